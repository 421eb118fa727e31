import type { AuthUser } from "../auth/jwt.ts";
import type { ReceiptUpdate } from "../contract/events.ts";
import { notFound } from "../kernel/errors.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { RoomCounters } from "../messages/room-counters.repository.ts";
import type { MembersStore } from "../store/store.ts";

/** Realtime side of receipts: `receipt:updated` to the room (the member's own devices included). */
export interface ReceiptEvents {
  receiptUpdated(update: ReceiptUpdate): void;
}

/**
 * Read and delivered watermarks (API 16–17): one row per member, never one per message, so a
 * 1,024-member group reading a message costs 1,024 small updates, and message info is derived
 * from watermarks. Monotonic: a lower seq changes nothing; a seq above the room's last is
 * clamped to it. Each move takes a room revision (sync reads receipts by it).
 */
export class ReceiptsService {
  readonly #store: MembersStore;
  readonly #members: MembershipCache;
  readonly #counters: RoomCounters;
  readonly #events: ReceiptEvents;
  readonly #notify: { clearRoom(userId: string, roomId: string, readSeq: number): Promise<void> } | undefined;

  constructor(deps: {
    store: MembersStore;
    members: MembershipCache;
    counters: RoomCounters;
    events: ReceiptEvents;
    /** A read clears the room's notifications on the user's other devices (a silent push). */
    notify?: { clearRoom(userId: string, roomId: string, readSeq: number): Promise<void> };
  }) {
    this.#store = deps.store;
    this.#members = deps.members;
    this.#counters = deps.counters;
    this.#events = deps.events;
    this.#notify = deps.notify;
  }

  async mark(user: AuthUser, roomId: string, kind: "read" | "delivered", seq: number): Promise<void> {
    await this.#members.assertMember(roomId, user.id);
    const before = await this.#store.getMember(roomId, user.id);
    if (!before) throw notFound("room");
    const target = Math.min(seq, await this.#counters.currentSeq(roomId));
    const current = kind === "read" ? before.read_seq : before.delivered_seq;
    if (target <= current) return; // monotonic: nothing moves, nothing is announced
    const [rev] = await this.#counters.takeRevs(roomId, 1);
    const after = await this.#store.updateReceipts(roomId, user.id, {
      ...(kind === "read" ? { read_seq: target } : { delivered_seq: target }),
      at: new Date().toISOString(),
      rev: rev ?? 0,
    });
    if (!after) throw notFound("room");
    this.#events.receiptUpdated({
      room_id: roomId,
      user_id: user.id,
      read_seq: after.read_seq,
      delivered_seq: after.delivered_seq,
    });
    if (kind === "read") await this.#notify?.clearRoom(user.id, roomId, after.read_seq);
  }
}
