import type { AuthUser } from "../auth/jwt.ts";
import { AppError, notFound, parse } from "../errors.ts";
import { newId } from "../ids.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import type { MembersStore, NewMember, NewRoom, RoomRecord, RoomsStore } from "../store/store.ts";
import type { MembershipCache } from "./membership.cache.ts";
import { activityCursorSchema, type CreateRoomInput, type ListQuery } from "./rooms.schemas.ts";
import { type RoomView, toRoomView } from "./rooms.views.ts";

/** Realtime side effects of room changes; the API process implements it with Socket.IO. */
export interface RoomEvents {
  roomCreated(room: RoomRecord, memberIds: string[]): Promise<void>;
}

export type RoomsConfig = { maxGroupMembers: number };
type Limits = Pick<RateLimits, "consume">;

function encodeCursor(room: RoomRecord): string {
  return Buffer.from(JSON.stringify({ a: room.last_activity_at, i: room.id })).toString("base64url");
}

function decodeCursor(cursor: string): { last_activity_at: string; id: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new AppError("invalid_request", "cursor is invalid");
  }
  const c = parse(activityCursorSchema, raw);
  return { last_activity_at: c.a, id: c.i };
}

export class RoomsService {
  readonly #store: RoomsStore & MembersStore;
  readonly #members: MembershipCache;
  readonly #events: RoomEvents;
  readonly #config: RoomsConfig;
  readonly #limits: Limits | undefined;

  constructor(
    store: RoomsStore & MembersStore,
    members: MembershipCache,
    events: RoomEvents,
    config: RoomsConfig,
    limits?: Limits,
  ) {
    this.#store = store;
    this.#members = members;
    this.#events = events;
    this.#config = config;
    this.#limits = limits;
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
    const after = query.cursor ? decodeCursor(query.cursor) : undefined;
    const rows = await this.#store.listRoomsForUser(user.id, query.limit + 1, after);
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      rooms: page.map((r) => toRoomView(r.room, r.member)),
      next_cursor: rows.length > query.limit && last ? encodeCursor(last.room) : null,
    };
  }

  async get(user: AuthUser, roomId: string): Promise<RoomView> {
    await this.#members.assertMember(roomId, user.id);
    const [room, members] = await Promise.all([this.#store.getRoom(roomId), this.#store.getMembers(roomId)]);
    if (!room) throw notFound("room");
    return toRoomView(room, members.find((m) => m.user_id === user.id) ?? null, members);
  }
}
