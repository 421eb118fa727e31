import type { Ack, AckReply, ClientToServerEvents } from "../contract/events.ts";
import { toAppError } from "../http/error-mapping.ts";
import { AppError } from "../kernel/errors.ts";
import type { Logger } from "../observability/logger.ts";
import type { ChatServer, ChatSocket } from "./socket.server.ts";

type Reply = (reply: Ack<object>) => void;

/**
 * Socket.IO passes the ack as the last argument, whatever came before it. What a client sends
 * is not trusted to match the contract: any arguments, an ack or none.
 */
function splitAck(args: unknown[]): { reply: Reply; payloads: unknown[] } {
  const last = args.at(-1);
  if (typeof last === "function") return { reply: last as Reply, payloads: args.slice(0, -1) };
  return { reply: () => {}, payloads: args };
}
/** A client-to-server event's handler: the payload is untrusted, the reply is what the contract's ack carries. */
type SocketHandler<E extends keyof ClientToServerEvents> = (
  socket: ChatSocket,
  payload: unknown,
) => Promise<AckReply<E>>;

/** Every event of the contract has one handler; each feature's module offers its share. */
export type SocketHandlers = { [E in keyof ClientToServerEvents]: SocketHandler<E> };

/** What a feature does when a socket connects and when it leaves (presence, typing). */
export type SocketLifecycle = { connected(socket: ChatSocket): void; disconnected(socket: ChatSocket): void };

/**
 * Client-to-server events. Each payload is parsed by the same zod schema family as REST and
 * answered through the ack as `{ok: true, ...}` or `{ok: false, error}` (API.md's error body).
 */
export function registerSocketHandlers(
  io: ChatServer,
  handlers: SocketHandlers,
  lifecycle: SocketLifecycle[],
  logger: Logger,
): void {
  const events = Object.keys(handlers) as (keyof SocketHandlers)[];
  io.on("connection", (socket) => {
    for (const event of events) {
      socket.on(event, async (...args: unknown[]) => {
        const { reply, payloads } = splitAck(args);
        try {
          if (payloads.length !== 1) {
            throw new AppError("invalid_request", "expected exactly one payload object (then the ack)");
          }
          reply({ ok: true, ...(await handlers[event](socket, payloads[0])) });
        } catch (err) {
          const appError = toAppError(err);
          if (appError.code === "internal") {
            // What the event was about (never its text): enough to find the room and the message.
            const about = payloads[0] as { room_id?: unknown; message_id?: unknown } | undefined;
            logger.error(
              {
                err,
                event,
                user_id: socket.data.user.id,
                room_id: typeof about?.room_id === "string" ? about.room_id : undefined,
                message_id: typeof about?.message_id === "string" ? about.message_id : undefined,
              },
              "socket handler failed",
            );
          }
          reply({ ok: false, ...appError.toBody() });
        }
      });
    }
    for (const l of lifecycle) l.connected(socket);
    socket.on("disconnect", () => {
      for (const l of lifecycle) l.disconnected(socket);
    });
    // Unknown events get an error through their ack, if they carry one; otherwise nothing.
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === "string" && Object.hasOwn(handlers, event)) return;
      splitAck(args).reply({ ok: false, ...new AppError("invalid_request", "unknown event").toBody() });
    });
  });
}
