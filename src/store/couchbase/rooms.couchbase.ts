import type {
  ActivityCursor,
  MemberRecord,
  MemberRole,
  MembersStore,
  MessageRecord,
  NewMember,
  NewRoom,
  ReceiptChange,
  RoomChange,
  RoomForUser,
  RoomRecord,
  RoomsStore,
  SettingsChange,
  UnreadMembership,
} from "../store.ts";
import { StoreRejectedError } from "../store.ts";
import { type Db, keys, type MemberStateDoc, type RoomDoc, type RosterEntry } from "./couchbase.layout.ts";
import { KEYSET_TOP } from "./couchbase.queries.ts";

/** Oldest member first (joined_at, then user id), as the port lists members. */
const byJoin = (a: RosterEntry, b: RosterEntry) =>
  a.joined_at < b.joined_at ? -1 : a.joined_at > b.joined_at ? 1 : a.user_id < b.user_id ? -1 : 1;

function withRoster(doc: RoomDoc, members: RosterEntry[]): RoomDoc {
  const sorted = [...members].sort(byJoin);
  return { ...doc, members: sorted, member_ids: sorted.map((m) => m.user_id) };
}

function newRoomDoc(room: NewRoom, members: NewMember[]): RoomDoc {
  const doc: RoomDoc = {
    ...room,
    last_seq: 0,
    rev: 0,
    last_message: null,
    last_activity_at: room.created_at,
    members: [],
    member_ids: [],
  };
  return withRoster(
    doc,
    members.map((m) => ({ ...m, joined_rev: 0, start_seq: 0 })),
  );
}

/** The member as the port shows it: the roster entry, with its state when that state is this membership's. */
function memberRecord(roomId: string, entry: RosterEntry, state: MemberStateDoc | null): MemberRecord {
  const s = state && state.joined_rev === entry.joined_rev ? state : null;
  return {
    room_id: roomId,
    user_id: entry.user_id,
    role: entry.role,
    joined_at: entry.joined_at,
    read_seq: s?.read_seq ?? entry.start_seq,
    // Added members start with their watermarks set at joining; founders with none.
    read_at: s ? s.read_at : entry.joined_rev > 0 ? entry.joined_at : null,
    delivered_seq: s?.delivered_seq ?? entry.start_seq,
    delivered_at: s ? s.delivered_at : entry.joined_rev > 0 ? entry.joined_at : null,
    muted_until: s?.muted_until ?? null,
    pinned: s?.pinned ?? false,
    archived: s?.archived ?? false,
  };
}

/** The state a member starts with (no document yet, or one left over from an earlier membership). */
function freshState(entry: RosterEntry): MemberStateDoc {
  const m = memberRecord("", entry, null);
  return {
    joined_rev: entry.joined_rev,
    read_seq: m.read_seq,
    read_at: m.read_at,
    delivered_seq: m.delivered_seq,
    delivered_at: m.delivered_at,
    muted_until: null,
    pinned: false,
    archived: false,
  };
}

/**
 * RoomsStore and MembersStore on Couchbase. A room document holds its roster, so creating a
 * room with its members, the member cap, the last-admin rule and promotion are each one
 * atomic write (CAS). Watermarks and settings live in a document per member, changed by CAS.
 */
export class CouchbaseRooms implements RoomsStore, MembersStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  /** The room as the port shows it, with its last message's state. */
  async record(doc: RoomDoc): Promise<RoomRecord> {
    const { members, member_ids: _ids, ...room } = doc;
    let last_message_state: RoomRecord["last_message_state"] = null;
    if (doc.last_message) {
      const state = await this.#db.messageState.value(doc.last_message.id);
      last_message_state = { edit: state?.edit ?? null, deleted: state?.deleted ?? null };
    }
    return { ...room, members_count: members.length, last_message_state };
  }

  async createGroupRoom(room: NewRoom, members: NewMember[]): Promise<RoomRecord> {
    const doc = newRoomDoc(room, members);
    await this.#db.rooms.insert(room.id, doc);
    const stored = await this.#db.rooms.value(room.id);
    return this.record(stored ?? doc);
  }

  /**
   * The pair's lookup document decides which room is theirs (insert-if-absent). Its room is
   * written next; a caller that finds the lookup without its room (the creator stopped in
   * between) writes that room itself, under the lookup's id.
   */
  async getOrCreateDirectRoom(
    room: NewRoom,
    members: NewMember[],
  ): Promise<{ room: RoomRecord; created: boolean }> {
    const [a = "", b = "", ...rest] = (room.direct_key ?? "").split("|");
    if (rest.length > 0) throw new StoreRejectedError("a direct room's key is a pair of user ids");
    const pair = keys.pair(a, b);
    const claimed = await this.#db.directRooms.insert(pair, { room_id: room.id });
    const roomId = claimed ? room.id : ((await this.#db.directRooms.value(pair))?.room_id ?? room.id);
    // Written under the lookup's id whoever writes it: only one room can ever hold the pair.
    const created = await this.#db.rooms.insert(roomId, newRoomDoc({ ...room, id: roomId }, members));
    const doc = await this.#db.rooms.value(roomId);
    if (!doc) throw new Error("direct room vanished after it was written");
    return { room: await this.record(doc), created };
  }

  async getRoom(roomId: string): Promise<RoomRecord | null> {
    const doc = await this.#db.rooms.value(roomId);
    return doc ? this.record(doc) : null;
  }

  async updateRoom(roomId: string, change: RoomChange): Promise<RoomRecord | null> {
    const { value } = await this.#db.rooms.update(roomId, (doc) => {
      if (!doc) return undefined;
      doc.updated_at = change.updated_at;
      doc.rev = Math.max(doc.rev, change.rev);
      if (change.name !== undefined) doc.name = change.name;
      if (change.description !== undefined) doc.description = change.description;
      if (change.avatar_media_id !== undefined) doc.avatar_media_id = change.avatar_media_id;
      return doc;
    });
    return value ? this.record(value) : null;
  }

  roomsWithAvatar(mediaId: string, limit: number): Promise<string[]> {
    return this.#db.q.rows<string>("roomsWithAvatar", { media: mediaId, limit });
  }

  async clearAvatar(
    roomId: string,
    mediaId: string,
    change: { updated_at: string; rev: number },
  ): Promise<RoomRecord | null> {
    const { value, changed } = await this.#db.rooms.update(roomId, (doc) => {
      if (!doc || doc.avatar_media_id !== mediaId) return undefined;
      doc.avatar_media_id = null;
      doc.updated_at = change.updated_at;
      doc.rev = Math.max(doc.rev, change.rev);
      return doc;
    });
    return changed && value ? this.record(value) : null;
  }

  async listRoomsForUser(userId: string, limit: number, after?: ActivityCursor): Promise<RoomForUser[]> {
    const docs = await this.#db.q.rows<RoomDoc>("roomsForUser", {
      user: userId,
      after_at: after?.last_activity_at ?? KEYSET_TOP,
      after_id: after?.id ?? KEYSET_TOP,
      limit,
    });
    const states = await this.#db.memberState.many(docs.map((d) => keys.member(d.id, userId)));
    const rooms = await Promise.all(
      docs.map(async (doc) => {
        const entry = doc.members.find((m) => m.user_id === userId);
        if (!entry) return null;
        return {
          room: await this.record(doc),
          member: memberRecord(doc.id, entry, states.get(keys.member(doc.id, userId)) ?? null),
        };
      }),
    );
    return rooms.filter((r): r is RoomForUser => r !== null);
  }

  // --- Members ---------------------------------------------------------------------------

  async #memberships(userId: string) {
    type Row = {
      id: string;
      type: RoomDoc["type"];
      last_seq: number;
      member_ids: string[];
      me: RosterEntry | null;
    };
    const rows = await this.#db.q.rows<Row>("membershipsOf", { user: userId });
    return rows.filter((r): r is Row & { me: RosterEntry } => r.me !== null && r.me !== undefined);
  }

  async getMembers(roomId: string): Promise<MemberRecord[]> {
    const doc = await this.#db.rooms.value(roomId);
    if (!doc) return [];
    const states = await this.#db.memberState.many(doc.members.map((m) => keys.member(roomId, m.user_id)));
    return doc.members.map((m) =>
      memberRecord(roomId, m, states.get(keys.member(roomId, m.user_id)) ?? null),
    );
  }

  async getMember(roomId: string, userId: string): Promise<MemberRecord | null> {
    const doc = await this.#db.rooms.value(roomId);
    const entry = doc?.members.find((m) => m.user_id === userId);
    if (!entry) return null;
    return memberRecord(roomId, entry, await this.#db.memberState.value(keys.member(roomId, userId)));
  }

  async listMemberIds(roomId: string): Promise<string[]> {
    return (await this.#db.rooms.value(roomId))?.member_ids ?? [];
  }

  async listRoomIdsForUser(userId: string): Promise<string[]> {
    return (await this.#memberships(userId)).map((r) => r.id);
  }

  async memberRooms(userId: string): Promise<{ room_id: string; joined_rev: number }[]> {
    return (await this.#memberships(userId)).map((r) => ({ room_id: r.id, joined_rev: r.me.joined_rev }));
  }

  async directPartners(userId: string): Promise<string[]> {
    return (await this.#memberships(userId))
      .filter((r) => r.type === "direct")
      .flatMap((r) => r.member_ids.filter((id) => id !== userId));
  }

  async shareRoom(a: string, b: string): Promise<boolean> {
    return (await this.#db.q.rows<string>("shareRoom", { a, b })).length > 0;
  }

  async listMemberships(userId: string): Promise<UnreadMembership[]> {
    const rooms = await this.#memberships(userId);
    const states = await this.#db.memberState.many(rooms.map((r) => keys.member(r.id, userId)));
    return rooms.map((r) => ({
      member: memberRecord(r.id, r.me, states.get(keys.member(r.id, userId)) ?? null),
      last_seq: r.last_seq,
    }));
  }

  /**
   * A CAS write of one member's state, based on what counts now (see MemberStateDoc). `room`
   * is the room document when the caller has just read or written it.
   */
  async #changeState(
    roomId: string,
    userId: string,
    change: (state: MemberStateDoc) => boolean,
    room?: RoomDoc | null,
  ): Promise<MemberRecord | null> {
    const doc = room === undefined ? await this.#db.rooms.value(roomId) : room;
    const entry = doc?.members.find((m) => m.user_id === userId);
    if (!entry) return null;
    const { value } = await this.#db.memberState.update(keys.member(roomId, userId), (current) => {
      const state = current && current.joined_rev === entry.joined_rev ? current : freshState(entry);
      return change(state) ? state : undefined;
    });
    return memberRecord(roomId, entry, value);
  }

  updateReceipts(roomId: string, userId: string, change: ReceiptChange): Promise<MemberRecord | null> {
    return this.#moveReceipts(roomId, userId, change);
  }

  #moveReceipts(
    roomId: string,
    userId: string,
    change: ReceiptChange,
    room?: RoomDoc | null,
  ): Promise<MemberRecord | null> {
    // Reading implies delivery; watermarks never move down.
    const delivered = Math.max(change.read_seq ?? 0, change.delivered_seq ?? 0);
    return this.#changeState(
      roomId,
      userId,
      (s) => {
        let changed = false;
        if (change.read_seq !== undefined && s.read_seq < change.read_seq) {
          s.read_seq = change.read_seq;
          s.read_at = change.at;
          changed = true;
        }
        if (delivered > 0 && s.delivered_seq < delivered) {
          s.delivered_seq = delivered;
          s.delivered_at = change.at;
          changed = true;
        }
        return changed;
      },
      room,
    );
  }

  updateSettings(roomId: string, userId: string, change: SettingsChange): Promise<MemberRecord | null> {
    return this.#changeState(roomId, userId, (s) => {
      if (change.muted_until !== undefined) s.muted_until = change.muted_until;
      if (change.pinned !== undefined) s.pinned = change.pinned;
      if (change.archived !== undefined) s.archived = change.archived;
      return true;
    });
  }

  /** Sending implies reading up to one's own message (the message writer, with the room it just advanced). */
  advanceReader(room: RoomDoc, userId: string, seq: number, at: string): Promise<MemberRecord | null> {
    return this.#moveReceipts(room.id, userId, { read_seq: seq, at, rev: 0 }, room);
  }

  async addMembers(
    roomId: string,
    members: NewMember[],
    maxMembers: number,
    rev: number,
    readSeq: number,
  ): Promise<string[] | "full"> {
    let added: string[] = [];
    let full = false;
    await this.#db.rooms.update(roomId, (doc) => {
      added = [];
      full = false;
      if (!doc) return undefined;
      const have = new Set(doc.member_ids);
      const fresh = members.filter((m) => !have.has(m.user_id));
      if (have.size + fresh.length > maxMembers) {
        full = true;
        return undefined;
      }
      if (fresh.length === 0) return undefined;
      added = fresh.map((m) => m.user_id);
      const next = withRoster(doc, [
        ...doc.members,
        ...fresh.map((m) => ({ ...m, joined_rev: rev, start_seq: readSeq })),
      ]);
      next.rev = Math.max(doc.rev, rev);
      return next;
    });
    return full ? "full" : added;
  }

  async removeMember(
    roomId: string,
    userId: string,
    rev: number,
  ): Promise<{ removed: boolean; promoted: string | null }> {
    let promoted: string | null = null;
    const { changed } = await this.#db.rooms.update(roomId, (doc) => {
      promoted = null;
      if (!doc?.member_ids.includes(userId)) return undefined;
      const rest = doc.members.filter((m) => m.user_id !== userId);
      // The longest-standing member takes over when the last admin of a group goes.
      const heir = rest[0];
      if (doc.type === "group" && heir && !rest.some((m) => m.role === "admin")) {
        heir.role = "admin";
        promoted = heir.user_id;
      }
      const next = withRoster(doc, rest);
      next.rev = Math.max(doc.rev, rev);
      return next;
    });
    // The member's state document stays: its joined_rev is no roster entry's from now on, so it
    // is ignored, and removing it here could delete a re-added membership's newer state.
    return { removed: changed, promoted };
  }

  async setRole(
    roomId: string,
    userId: string,
    role: MemberRole,
    rev: number,
  ): Promise<MemberRecord | "last_admin" | null> {
    const seen: { outcome: "ok" | "last_admin" | "absent" } = { outcome: "absent" };
    const { value } = await this.#db.rooms.update(roomId, (doc) => {
      seen.outcome = "absent";
      const entry = doc?.members.find((m) => m.user_id === userId);
      if (!doc || !entry) return undefined;
      if (
        role === "member" &&
        entry.role === "admin" &&
        doc.members.filter((m) => m.role === "admin").length <= 1
      ) {
        seen.outcome = "last_admin";
        return undefined;
      }
      seen.outcome = "ok";
      entry.role = role;
      doc.rev = Math.max(doc.rev, rev);
      return doc;
    });
    if (seen.outcome === "last_admin") return "last_admin";
    const entry = value?.members.find((m) => m.user_id === userId);
    if (seen.outcome === "absent" || !entry) return null;
    return memberRecord(roomId, entry, await this.#db.memberState.value(keys.member(roomId, userId)));
  }

  /**
   * Moves a room forward for newly stored messages (its newest one, activity, revision),
   * never backwards: one CAS write per room per batch. Returns the room as it now is.
   */
  async advanceRoom(roomId: string, newest: MessageRecord, rev: number): Promise<RoomDoc | null> {
    const { value } = await this.#db.rooms.update(roomId, (doc) => {
      if (!doc) return undefined;
      let changed = false;
      if (doc.last_seq < newest.seq) {
        doc.last_seq = newest.seq;
        doc.last_message = newest;
        if (doc.last_activity_at < newest.created_at) doc.last_activity_at = newest.created_at;
        changed = true;
      }
      if (doc.rev < rev) {
        doc.rev = rev;
        changed = true;
      }
      return changed ? doc : undefined;
    });
    return value;
  }

  /** Moves a room's revision up (message ops). */
  async advanceRev(roomId: string, rev: number): Promise<void> {
    await this.#db.rooms.update(roomId, (doc) => {
      if (!doc || doc.rev >= rev) return undefined;
      doc.rev = rev;
      return doc;
    });
  }
}
