import { createHash } from "node:crypto";
import type { z } from "zod";
import type { AuthUser } from "../auth/jwt.ts";
import type { MessagesSync, MessageView, RoomsSync, RoomView } from "../contract/views.ts";
import type { DevicesService } from "../devices/devices.service.ts";
import { AppError, notFound } from "../kernel/errors.ts";
import { newId } from "../kernel/ids.ts";
import type { MessageReader } from "../messages/message.reader.ts";
import type { PendingRepository } from "../messages/pending.repository.ts";
import type { RoomCounters } from "../messages/room-counters.repository.ts";
import type { MessageRecord, MessagesStore, SyncKind, SyncStore } from "../store/store.ts";
import {
  messagesStateSchema,
  roomsStateSchema,
  type SyncMessagesInput,
  type SyncRoomsInput,
} from "./sync.schemas.ts";

/** Windows of changes one room's part of a page may read (see #roomChanges). */
const WINDOWS = 4;

/** What changes a room for a device: anything but the signed URLs, which move with time. */
function fingerprint(room: RoomView): string {
  const stable = {
    ...room,
    last_message: room.last_message
      ? { id: room.last_message.id, rev: room.last_message.rev, deleted: room.last_message.deleted }
      : null,
  };
  return createHash("sha256").update(JSON.stringify(stable)).digest("base64url").slice(0, 16);
}

/**
 * Gapless multi-device sync (API.md 28–29, invariant 6). A cursor is small and opaque: the id
 * of the state the server keeps per device (per room, the revision the device has everything
 * up to; or, for rooms, a fingerprint of each room as the device last got it). Cursors never
 * expire: a device may come back after any time and page forward from where it was.
 *
 * Messages: every change in a room takes the next room revision in the same script that makes
 * it visible (pending in Redis, then stored). A page reads each room's counter first (C), then
 * pending, then the store: every revision up to C is in one of the two reads, so the page only
 * takes changes up to C and the next cursor never skips one. Each message comes once, in its
 * latest state, at its latest revision, oldest first; a message that changes again later comes
 * again then.
 */
export class SyncService {
  readonly #store: SyncStore & Pick<MessagesStore, "getMessages" | "getRolledBack">;
  readonly #devices: DevicesService;
  readonly #counters: RoomCounters;
  readonly #pending: PendingRepository;
  readonly #reader: MessageReader;
  readonly #rooms: { everyRoom(user: AuthUser): Promise<RoomView[]> };

  constructor(deps: {
    store: SyncStore & Pick<MessagesStore, "getMessages" | "getRolledBack">;
    devices: DevicesService;
    counters: RoomCounters;
    pending: PendingRepository;
    reader: MessageReader;
    rooms: { everyRoom(user: AuthUser): Promise<RoomView[]> };
  }) {
    this.#store = deps.store;
    this.#devices = deps.devices;
    this.#counters = deps.counters;
    this.#pending = deps.pending;
    this.#reader = deps.reader;
    this.#rooms = deps.rooms;
  }

  /** Rooms changed since the cursor (all without one), and rooms the user is no longer in. */
  async rooms(user: AuthUser, input: SyncRoomsInput): Promise<RoomsSync> {
    await this.#devices.require(user, input.device_id);
    const had = input.since
      ? await this.#state(user, input.device_id, "rooms", input.since, roomsStateSchema)
      : {};
    const now = await this.#rooms.everyRoom(user);
    const state: Record<string, string> = {};
    const changed: RoomView[] = [];
    for (const room of now) {
      const print = fingerprint(room);
      state[room.id] = print;
      if (had[room.id] !== print) changed.push(room);
    }
    const removed = Object.keys(had).filter((id) => !(id in state));
    const next = await this.#save(user, input.device_id, "rooms", state, input.since);
    return { rooms: changed, removed_room_ids: removed, next_since: next };
  }

  /** Messages changed since the cursor, in bounded pages; without a cursor, none and the current one. */
  async messages(user: AuthUser, input: SyncMessagesInput): Promise<MessagesSync> {
    await this.#devices.require(user, input.device_id);
    const memberships = await this.#store.memberRooms(user.id);
    const roomIds = memberships.map((m) => m.room_id).sort();
    const upto = await this.#counters.currentRevs(roomIds);
    const next: Record<string, number> = {};
    if (!input.since) {
      for (const r of roomIds) next[r] = upto.get(r) ?? 0;
      return {
        messages: [],
        next_since: await this.#save(user, input.device_id, "messages", next),
        has_more: false,
      };
    }
    const had = await this.#state(user, input.device_id, "messages", input.since, messagesStateSchema);
    const joined = new Map(memberships.map((m) => [m.room_id, m.joined_rev]));
    const out: MessageView[] = [];
    let hasMore = false;
    // A room the device has not seen yet, or that the user left and rejoined since, starts
    // where the user (last) joined it.
    const start = (r: string) => Math.max(had[r] ?? 0, joined.get(r) ?? 0);
    for (const roomId of roomIds) {
      const from = start(roomId);
      const to = upto.get(roomId) ?? 0;
      next[roomId] = from;
      if (hasMore || to <= from) continue;
      const room = await this.#roomChanges(user.id, roomId, from, to, input.limit - out.length);
      out.push(...room.messages);
      next[roomId] = room.through;
      if (room.through < to) hasMore = true;
      if (out.length >= input.limit)
        hasMore ||= roomIds.some((r) => r > roomId && (upto.get(r) ?? 0) > start(r));
    }
    return {
      messages: out,
      next_since: await this.#save(user, input.device_id, "messages", next, input.since),
      has_more: hasMore,
    };
  }

  /**
   * One room's changes in (from, to], at most `limit` messages, oldest first, and the revision
   * the device has everything up to after them (`to` when the room is done). A window can come
   * back short (its changes' messages changed again later, above it): the next one is read, up
   * to WINDOWS of them, so a page is rarely short yet its reads stay bounded by its limit.
   */
  async #roomChanges(
    viewerId: string,
    roomId: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<{ messages: MessageView[]; through: number }> {
    const messages: MessageView[] = [];
    let through = from;
    for (let w = 0; w < WINDOWS && messages.length < limit && through < to; w++) {
      const next = await this.#window(viewerId, roomId, through, to, limit - messages.length);
      messages.push(...next.messages);
      through = next.through;
    }
    return { messages, through };
  }

  /**
   * As #roomChanges, one window: every read is bounded by the page (pending messages and ops by
   * the rev range and limit + 1 each, the store likewise), whatever backlog piled up in Redis.
   */
  async #window(
    viewerId: string,
    roomId: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<{ messages: MessageView[]; through: number }> {
    const ask = limit + 1;
    // Pending first, then the store: whatever leaves pending in between was stored before it left.
    const pending = await this.#pending.changes(roomId, from, to, ask);
    const stored = await this.#store.messageChanges(roomId, from, to, viewerId, ask);
    // Each read is complete up to where it was cut: up to the lowest of these, every message
    // whose latest change is in range is among the ids read (each source returns it at that
    // change), so the page may take any view up to there, and nothing above it.
    const complete = Math.min(pending.through, stored.length >= ask ? (stored.at(-1)?.rev ?? to) : to);
    const ids = new Set([
      ...pending.messages.map((m) => m.id),
      ...pending.ops.map((op) => op.message_id),
      ...stored.map((c) => c.message_id),
    ]);
    const byId = new Map<string, MessageRecord>(pending.messages.map((m) => [m.id, m]));
    const missing = [...ids].filter((id) => !byId.has(id));
    for (const m of await this.#store.getMessages(missing)) byId.set(m.id, m);
    // An op may be pending for a message that is itself still pending under an older revision.
    // reader.record looks in pending, then in the store again: the message may have been
    // stored since the read above, and that second read is what closes the gap.
    for (const id of missing.filter((i) => !byId.has(i))) {
      const record = await this.#reader.record(id);
      if (record) byId.set(id, record);
    }
    // Refused by the store after devices may have seen it pending: it comes as a tombstone.
    for (const m of await this.#store.getRolledBack(missing.filter((i) => !byId.has(i)))) byId.set(m.id, m);
    const views = (await this.#reader.syncViews([...byId.values()], viewerId))
      .filter((v) => v.rev > from && v.rev <= complete)
      .sort((a, b) => a.rev - b.rev);
    const page = views.slice(0, limit);
    // Cut at the page: it ends at the last view taken; otherwise the device has all up to `complete`.
    return { messages: page, through: views.length > limit ? (page.at(-1)?.rev ?? from) : complete };
  }

  /** The state behind a cursor: this device's, of this kind, or a 400. */
  async #state<S extends z.ZodType>(
    user: AuthUser,
    deviceId: string,
    kind: SyncKind,
    since: string,
    schema: S,
  ): Promise<z.infer<S>> {
    const cursor = await this.#store.getSyncCursor(since);
    if (!cursor || cursor.user_id !== user.id || cursor.device_id !== deviceId || cursor.kind !== kind) {
      throw new AppError("invalid_request", `since is not a ${kind} cursor of this device`);
    }
    return schema.parse(JSON.parse(cursor.state));
  }

  /**
   * Keeps the new state and hands out its id. The device's older cursors go, but for the one it
   * came with (a lost answer can be asked for again) and its newest few.
   */
  async #save(
    user: AuthUser,
    deviceId: string,
    kind: SyncKind,
    state: object,
    from?: string,
  ): Promise<string> {
    const id = newId();
    const at = new Date().toISOString();
    const saved = await this.#store.saveSyncCursor(
      { id, user_id: user.id, device_id: deviceId, kind, state: JSON.stringify(state), created_at: at },
      from ? [from] : [],
    );
    if (!saved) throw notFound("device"); // deleted while this page was read
    await this.#devices.touchSync(user, deviceId, at);
    return id;
  }
}
