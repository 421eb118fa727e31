import { z } from "zod";
import type { TypingPayload } from "../contract/events.ts";
import { parse } from "../kernel/errors.ts";
import { idSchema } from "../kernel/ids.ts";
import type { Accepts } from "../kernel/type-checks.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { Platform } from "../platform/platform.ts";
import type { SocketHandlers, SocketLifecycle } from "../realtime/socket.handlers.ts";
import type { ChatServer } from "../realtime/socket.server.ts";
import { Presence } from "./presence.ts";
import { Typing } from "./typing.ts";

const typingSchema = z.strictObject({ room_id: idSchema });
const _typingPayload: Accepts<z.input<typeof typingSchema>, TypingPayload> = true;

/** Presence (who is online, last seen) and typing indicators: API only, they follow sockets. */
export function presenceModule(p: Platform, deps: { io: ChatServer; members: MembershipCache }) {
  const c = p.config;
  const presence = new Presence({
    io: deps.io,
    redis: p.redis,
    keys: p.keys,
    store: p.store,
    config: { ttlMs: c.PRESENCE_TTL_MS, heartbeatMs: c.PRESENCE_HEARTBEAT_MS },
    logger: p.logger,
  });
  presence.start();
  p.onClose(async () => presence.stop());
  const typing = new Typing(deps.io, deps.members, p.limits, {
    expireMs: c.TYPING_EXPIRE_MS,
    throttleMs: Math.min(2000, Math.floor(c.TYPING_EXPIRE_MS / 3)),
  });
  const presenceFailed = (err: unknown) =>
    p.logger.warn({ err: err instanceof Error ? err.message : String(err) }, "presence update failed");
  const lifecycle: SocketLifecycle = {
    connected: (socket) => {
      presence.connected(socket.id, socket.data.user.id).catch(presenceFailed);
    },
    disconnected: (socket) => {
      typing.disconnected(socket.id);
      presence.disconnected(socket.id, socket.data.user.id).catch(presenceFailed);
    },
  };
  return {
    presence,
    lifecycle,
    socketHandlers: {
      "typing:start": async (socket, payload) => {
        const { room_id } = parse(typingSchema, payload);
        await typing.start(socket.id, socket.data.user, room_id);
        return {};
      },
      "typing:stop": async (socket, payload) => {
        const { room_id } = parse(typingSchema, payload);
        await typing.stop(socket.id, socket.data.user, room_id);
        return {};
      },
    } satisfies Partial<SocketHandlers>,
  };
}
