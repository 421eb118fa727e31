import type { AuthUser } from "../auth/jwt.ts";
import { AppError } from "../kernel/errors.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import { roomChannel, userChannel } from "../realtime/channels.ts";
import type { ChatServer } from "../realtime/socket.server.ts";

export type TypingConfig = {
  /** A typing indicator ends by itself this long after the last `typing:start`. */
  expireMs: number;
  /** A socket's repeated `typing:start` for one room is re-broadcast at most this often. */
  throttleMs: number;
};

type Active = { user: AuthUser; roomId: string; timer: NodeJS.Timeout; lastSentAt: number };

/**
 * Typing indicators: `typing` {room_id, user_id, typing} to the room's other members (not to
 * the typist's own sockets), never stored. The API process holding the socket keeps the
 * expiry timer, so a stop, a disconnect or silence for `expireMs` ends it; if that process
 * dies, clients drop indicators they have not seen refreshed.
 */
export class Typing {
  readonly #io: ChatServer;
  readonly #members: MembershipCache;
  readonly #limits: Pick<RateLimits, "consume">;
  readonly #config: TypingConfig;
  /** By socket id, then room id. */
  readonly #active = new Map<string, Map<string, Active>>();

  constructor(
    io: ChatServer,
    members: MembershipCache,
    limits: Pick<RateLimits, "consume">,
    config: TypingConfig,
  ) {
    this.#io = io;
    this.#members = members;
    this.#limits = limits;
    this.#config = config;
  }

  async start(socketId: string, user: AuthUser, roomId: string): Promise<void> {
    await this.#members.assertMember(roomId, user.id);
    // Typing is a message in the making: not where a block stands.
    if (await this.#members.isBlocked(roomId)) {
      throw new AppError("forbidden", "a block stands between the members of this direct room");
    }
    await this.#limits.consume("typing", user.id);
    const rooms = this.#active.get(socketId) ?? new Map<string, Active>();
    this.#active.set(socketId, rooms);
    const current = rooms.get(roomId);
    if (current) clearTimeout(current.timer);
    const now = Date.now();
    const send = !current || now - current.lastSentAt >= this.#config.throttleMs;
    const timer = setTimeout(() => this.#end(socketId, roomId), this.#config.expireMs);
    timer.unref();
    rooms.set(roomId, { user, roomId, timer, lastSentAt: send ? now : (current?.lastSentAt ?? now) });
    if (send) this.#broadcast(user, roomId, true);
  }

  async stop(socketId: string, user: AuthUser, roomId: string): Promise<void> {
    await this.#members.assertMember(roomId, user.id);
    this.#end(socketId, roomId);
  }

  /** The socket is gone: end every indicator it held. */
  disconnected(socketId: string): void {
    for (const roomId of [...(this.#active.get(socketId)?.keys() ?? [])]) this.#end(socketId, roomId);
  }

  #end(socketId: string, roomId: string): void {
    const rooms = this.#active.get(socketId);
    const current = rooms?.get(roomId);
    if (!rooms || !current) return;
    clearTimeout(current.timer);
    rooms.delete(roomId);
    if (rooms.size === 0) this.#active.delete(socketId);
    this.#broadcast(current.user, roomId, false);
  }

  #broadcast(user: AuthUser, roomId: string, typing: boolean): void {
    this.#io
      .to(roomChannel(roomId))
      .except(userChannel(user.id))
      .emit("typing", { room_id: roomId, user_id: user.id, typing });
  }
}
