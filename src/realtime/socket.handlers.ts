import { z } from "zod";
import { toAppError } from "../http/error-mapping.ts";
import { AppError, parse } from "../kernel/errors.ts";
import { idSchema } from "../kernel/ids.ts";
import { socketSendSchema } from "../messages/messages.schemas.ts";
import type { MessagesService } from "../messages/messages.service.ts";
import type { Logger } from "../observability/logger.ts";
import type { Presence } from "../presence/presence.ts";
import type { Typing } from "../presence/typing.ts";
import type { ReceiptsService } from "../rooms/receipts.service.ts";
import { socketReceiptSchema } from "../rooms/rooms.schemas.ts";
import { syncMessagesSchema, syncRoomsSchema } from "../sync/sync.schemas.ts";
import type { SyncService } from "../sync/sync.service.ts";
import type { ChatServer, ChatSocket } from "./socket.server.ts";

const typingSchema = z.strictObject({ room_id: idSchema });

type Ack = (reply: unknown) => void;

/** Socket.IO passes the ack as the last argument, whatever came before it. */
function splitAck(args: unknown[]): { reply: Ack; payloads: unknown[] } {
  const last = args.at(-1);
  if (typeof last === "function") return { reply: last as Ack, payloads: args.slice(0, -1) };
  return { reply: () => {}, payloads: args };
}
type Handler = (socket: ChatSocket, payload: unknown) => Promise<Record<string, unknown>>;

/**
 * Client-to-server events. Each payload is parsed by the same zod schema family as REST and
 * answered through the ack as `{ok: true, ...}` or `{ok: false, error}` (API.md's error body).
 */
export function registerSocketHandlers(
  io: ChatServer,
  deps: {
    messages: MessagesService;
    receipts: ReceiptsService;
    typing: Typing;
    presence: Presence;
    sync: SyncService;
    logger: Logger;
  },
): void {
  const handlers: Record<string, Handler> = {
    "message:send": async (socket, payload) => {
      const { room_id, ...input } = parse(socketSendSchema, payload);
      const { message } = await deps.messages.send(socket.data.user, room_id, input, "socket");
      return { message };
    },
    "message:read": async (socket, payload) => {
      const { room_id, seq } = parse(socketReceiptSchema, payload);
      await deps.receipts.mark(socket.data.user, room_id, "read", seq);
      return {};
    },
    "message:delivered": async (socket, payload) => {
      const { room_id, seq } = parse(socketReceiptSchema, payload);
      await deps.receipts.mark(socket.data.user, room_id, "delivered", seq);
      return {};
    },
    "typing:start": async (socket, payload) => {
      const { room_id } = parse(typingSchema, payload);
      await deps.typing.start(socket.id, socket.data.user, room_id);
      return {};
    },
    "typing:stop": async (socket, payload) => {
      const { room_id } = parse(typingSchema, payload);
      await deps.typing.stop(socket.id, socket.data.user, room_id);
      return {};
    },
    // The sync pair answer in the ack and also emit their *:synced event to the asking socket.
    "chats:sync": async (socket, payload) => {
      const result = await deps.sync.rooms(socket.data.user, parse(syncRoomsSchema.strict(), payload));
      const synced = { ...result, timestamp: new Date().toISOString() };
      socket.emit("chats:synced", synced);
      return synced;
    },
    "messages:sync": async (socket, payload) => {
      const result = await deps.sync.messages(socket.data.user, parse(syncMessagesSchema.strict(), payload));
      socket.emit("messages:synced", result);
      return result;
    },
  };

  io.on("connection", (socket: ChatSocket) => {
    for (const [event, handler] of Object.entries(handlers)) {
      socket.on(event, async (...args: unknown[]) => {
        const { reply, payloads } = splitAck(args);
        try {
          if (payloads.length !== 1) {
            throw new AppError("invalid_request", "expected exactly one payload object (then the ack)");
          }
          reply({ ok: true, ...(await handler(socket, payloads[0])) });
        } catch (err) {
          const appError = toAppError(err);
          if (appError.code === "internal") {
            // What the event was about (never its text): enough to find the room and the message.
            const about = payloads[0] as { room_id?: unknown; message_id?: unknown } | undefined;
            deps.logger.error(
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
    const userId = socket.data.user.id;
    const presenceFailed = (err: unknown) =>
      deps.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "presence update failed");
    deps.presence.connected(socket.id, userId).catch(presenceFailed);
    socket.on("disconnect", () => {
      deps.typing.disconnected(socket.id);
      deps.presence.disconnected(socket.id, userId).catch(presenceFailed);
    });
    // Unknown events get an error through their ack, if they carry one; otherwise nothing.
    socket.onAny((event: unknown, ...args: unknown[]) => {
      if (typeof event === "string" && Object.hasOwn(handlers, event)) return;
      splitAck(args).reply({ ok: false, ...new AppError("invalid_request", "unknown event").toBody() });
    });
  });
}
