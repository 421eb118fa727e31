import { ulid } from "ulid";
import { afterEach, beforeEach } from "vitest";
import type { MediaRecord, MessageRecord, NewRoom, Store } from "../../src/store/store.ts";

/** Shared setup of the contract suites: a fresh store per test, and record builders. */
export function storeFixture(makeStore: () => Promise<Store>) {
  const ctx = { store: undefined as unknown as Store };
  beforeEach(async () => {
    ctx.store = await makeStore();
  });
  afterEach(async () => {
    await ctx.store.close();
  });
  return ctx;
}

export const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString();

export const room = (over: Partial<NewRoom> = {}): NewRoom => ({
  id: ulid(),
  type: "group",
  name: "g",
  description: null,
  avatar_media_id: null,
  created_by: "u1",
  created_at: at(0),
  updated_at: at(0),
  direct_key: null,
  ...over,
});

export const msg = (roomId: string, seq: number, over: Partial<MessageRecord> = {}): MessageRecord => ({
  id: ulid(),
  room_id: roomId,
  seq,
  rev: seq,
  sender_id: "u1",
  client_id: `c-${roomId}-${seq}`,
  type: "text",
  text: `m${seq}`,
  media_id: null,
  reply_to_id: null,
  mentions: [],
  system: null,
  created_at: at(seq * 1000),
  ...over,
});

export const members = (...ids: string[]) =>
  ids.map((id, i) => ({
    user_id: id,
    role: i === 0 ? ("admin" as const) : ("member" as const),
    joined_at: at(0),
  }));

/** A pending image upload record. */
export const media = (over: Partial<MediaRecord> = {}): MediaRecord => ({
  id: ulid(),
  owner_id: "u1",
  kind: "image",
  status: "pending",
  filename: "a.jpg",
  content_type: "image/jpeg",
  size: 100,
  upload_key: "up-x",
  object_key: "ob-x",
  thumb_key: null,
  placeholder: null,
  width: null,
  height: null,
  duration: null,
  failure: null,
  created_at: at(0),
  updated_at: at(0),
  deleted_at: null,
  ...over,
});
