import type { AuthUser } from "../auth/jwt.ts";
import type { MediaView, RoomView } from "../contract/views.ts";
import { decodeCursor, encodeCursor } from "../kernel/cursor.ts";
import { AppError, notFound } from "../kernel/errors.ts";
import { newId } from "../kernel/ids.ts";
import type { ListQuery } from "../kernel/params.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { MessageReader } from "../messages/message.reader.ts";
import type { RoomCounters } from "../messages/room-counters.repository.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import type {
  MembersStore,
  MessageStateStore,
  NewMember,
  NewRoom,
  RoomRecord,
  RoomsStore,
} from "../store/store.ts";
import type { BlocksService } from "./blocks.service.ts";
import { activityCursorSchema, type CreateRoomInput, type SettingsInput } from "./rooms.schemas.ts";
import { toRoomView } from "./rooms.views.ts";
import type { UnreadCounter } from "./unread.ts";

/** Realtime side effects of room changes; the API process implements it with Socket.IO. */
export interface RoomEvents {
  roomCreated(room: RoomRecord, memberIds: string[]): Promise<void>;
}

export type RoomsConfig = { maxGroupMembers: number };
type Limits = Pick<RateLimits, "consume">;

export class RoomsService {
  readonly #store: RoomsStore & MembersStore & Pick<MessageStateStore, "getMessageStates">;
  readonly #members: MembershipCache;
  readonly #events: RoomEvents;
  readonly #config: RoomsConfig;
  readonly #limits: Limits | undefined;
  readonly #unread: UnreadCounter;
  readonly #counters: RoomCounters;
  readonly #blocks: BlocksService;
  readonly #media: Pick<MessageReader, "media">;

  constructor(deps: {
    store: RoomsStore & MembersStore & Pick<MessageStateStore, "getMessageStates">;
    members: MembershipCache;
    events: RoomEvents;
    config: RoomsConfig;
    unread: UnreadCounter;
    counters: RoomCounters;
    blocks: BlocksService;
    /** The media of last messages (MessageReader.media). */
    media: Pick<MessageReader, "media">;
    limits?: Limits;
  }) {
    this.#store = deps.store;
    this.#members = deps.members;
    this.#events = deps.events;
    this.#config = deps.config;
    this.#limits = deps.limits;
    this.#unread = deps.unread;
    this.#counters = deps.counters;
    this.#blocks = deps.blocks;
    this.#media = deps.media;
  }

  async create(user: AuthUser, input: CreateRoomInput): Promise<{ room: RoomView; created: boolean }> {
    await this.#limits?.consume("room_create", user.id);
    const now = new Date().toISOString();
    const base = {
      id: newId(),
      created_by: user.id,
      created_at: now,
      updated_at: now,
      avatar_media_id: null,
    };
    let room: RoomRecord;
    let created: boolean;
    if (input.type === "direct") {
      if (input.member_id === user.id) {
        throw new AppError("invalid_request", "member_id must be another user");
      }
      await this.#blocks.assertCanOpenDirect(user, input.member_id);
      const pair = [user.id, input.member_id].sort();
      const newRoom: NewRoom = {
        ...base,
        type: "direct",
        name: null,
        description: null,
        direct_key: pair.join("|"),
      };
      const members: NewMember[] = pair.map((id) => ({ user_id: id, role: "member", joined_at: now }));
      ({ room, created } = await this.#store.getOrCreateDirectRoom(newRoom, members));
    } else {
      const others = [...new Set(input.member_ids)].filter((id) => id !== user.id);
      await this.#blocks.assertCanAdd(user, others);
      if (others.length + 1 > this.#config.maxGroupMembers) {
        throw new AppError(
          "invalid_request",
          `a group holds at most ${this.#config.maxGroupMembers} members`,
          {
            max_members: this.#config.maxGroupMembers,
          },
        );
      }
      const newRoom: NewRoom = {
        ...base,
        type: "group",
        name: input.name,
        description: input.description ?? null,
        direct_key: null,
      };
      const members: NewMember[] = [
        { user_id: user.id, role: "admin", joined_at: now },
        ...others.map((id): NewMember => ({ user_id: id, role: "member", joined_at: now })),
      ];
      room = await this.#store.createGroupRoom(newRoom, members);
      created = true;
    }
    const members = await this.#store.getMembers(room.id);
    if (created) {
      await this.#members.load(room.id);
      await this.#events.roomCreated(
        room,
        members.map((m) => m.user_id),
      );
    }
    const me = members.find((m) => m.user_id === user.id) ?? null;
    return { room: toRoomView(room, me, members), created };
  }

  async list(user: AuthUser, query: ListQuery): Promise<{ rooms: RoomView[]; next_cursor: string | null }> {
    const cursor = query.cursor ? decodeCursor(query.cursor, activityCursorSchema) : undefined;
    const after = cursor ? { last_activity_at: cursor.a, id: cursor.i } : undefined;
    const rows = await this.#store.listRoomsForUser(user.id, query.limit + 1, after);
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    const unread = await this.#unread.of(page.map((r) => ({ member: r.member, last_seq: r.room.last_seq })));
    const rooms = await this.#withoutHidden(
      page.map((r) => r.room),
      user.id,
    );
    const media = await this.#lastMedia(rooms);
    return {
      rooms: page.map((r, i) =>
        toRoomView(rooms[i] ?? r.room, r.member, undefined, unread.get(r.room.id), media),
      ),
      next_cursor:
        rows.length > query.limit && last
          ? encodeCursor({ a: last.room.last_activity_at, i: last.room.id })
          : null,
    };
  }

  /** Every room of the user as the caller sees it (sync compares them with what a device has). */
  async everyRoom(user: AuthUser): Promise<RoomView[]> {
    const rows = await this.#store.listRoomsForUser(user.id, Number.MAX_SAFE_INTEGER);
    const unread = await this.#unread.of(rows.map((r) => ({ member: r.member, last_seq: r.room.last_seq })));
    const rooms = await this.#withoutHidden(
      rows.map((r) => r.room),
      user.id,
    );
    const media = await this.#lastMedia(rooms);
    return rows.map((r, i) =>
      toRoomView(rooms[i] ?? r.room, r.member, undefined, unread.get(r.room.id), media),
    );
  }

  async get(user: AuthUser, roomId: string): Promise<RoomView> {
    await this.#members.assertMember(roomId, user.id);
    return this.#view(user, roomId);
  }

  async #view(user: AuthUser, roomId: string): Promise<RoomView> {
    const [room, members] = await Promise.all([this.#store.getRoom(roomId), this.#store.getMembers(roomId)]);
    const me = members.find((m) => m.user_id === user.id);
    if (!room || !me) throw notFound("room");
    const unread = await this.#unread.of([{ member: me, last_seq: room.last_seq }]);
    const [shown] = await this.#withoutHidden([room], user.id);
    return toRoomView(shown ?? room, me, members, unread.get(roomId), await this.#lastMedia([shown ?? room]));
  }

  #lastMedia(rooms: RoomRecord[]): Promise<Map<string, MediaView>> {
    return this.#media.media(rooms.flatMap((r) => (r.last_message ? [r.last_message] : [])));
  }

  /** A last message the viewer deleted for themselves is not shown as the room's last message. */
  async #withoutHidden(rooms: RoomRecord[], viewerId: string): Promise<RoomRecord[]> {
    const last = rooms.flatMap((r) => (r.last_message ? [r.last_message] : []));
    if (last.length === 0) return rooms;
    const states = await this.#store.getMessageStates(last, viewerId);
    return rooms.map((r) =>
      r.last_message && states.get(r.last_message.id)?.hidden
        ? { ...r, last_message: null, last_message_state: null }
        : r,
    );
  }

  /** The caller's own settings for a room (partial: fields left out stay as they are). */
  async updateSettings(user: AuthUser, roomId: string, input: SettingsInput): Promise<RoomView> {
    await this.#members.assertMember(roomId, user.id);
    const [rev] = await this.#counters.takeRevs(roomId, 1);
    const updated = await this.#store.updateSettings(roomId, user.id, { ...input, rev: rev ?? 0 });
    if (!updated) throw notFound("room");
    return this.#view(user, roomId);
  }

  /** Unread per room (above 0 only) and the total, which leaves muted rooms out (API 18). */
  async unread(user: AuthUser): Promise<{ total: number; rooms: Record<string, number> }> {
    const memberships = await this.#store.listMemberships(user.id);
    const counts = await this.#unread.of(memberships);
    const now = Date.now();
    const rooms: Record<string, number> = {};
    let total = 0;
    for (const { member } of memberships) {
      const n = counts.get(member.room_id)?.unread ?? 0;
      if (n === 0) continue;
      rooms[member.room_id] = n;
      const muted = member.muted_until !== null && Date.parse(member.muted_until) > now;
      if (!muted) total += n;
    }
    return { total, rooms };
  }
}
