import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AuthUser } from "../../src/auth/jwt.ts";
import type { MessageView } from "../../src/contract/views.ts";
import { FanoutJobs, fanoutQueue } from "../../src/fanout/fanout.queue.ts";
import { newId } from "../../src/kernel/ids.ts";
import { MediaJobs, mediaQueue } from "../../src/media/media.queue.ts";
import { MediaService } from "../../src/media/media.service.ts";
import { MediaViews } from "../../src/media/media.views.ts";
import { LocalMediaStorage } from "../../src/media-storage/local.storage.ts";
import { newObjectKeys } from "../../src/media-storage/media-storage.ts";
import { UrlSigner } from "../../src/media-storage/url-signer.ts";
import { MembershipCache } from "../../src/membership/membership.cache.ts";
import { MembershipChange } from "../../src/membership/membership-change.ts";
import { RoomLocks } from "../../src/membership/room-lock.ts";
import { MessageReader } from "../../src/messages/message.reader.ts";
import { PendingRepository } from "../../src/messages/pending.repository.ts";
import { RoomCounters } from "../../src/messages/room-counters.repository.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { JobProducer } from "../../src/queues/queue.ts";
import { Keys } from "../../src/redis/redis.ts";
import { BlocksService } from "../../src/rooms/blocks.service.ts";
import { type AvatarMedia, GroupsService } from "../../src/rooms/groups.service.ts";
import { toRoomView } from "../../src/rooms/rooms.views.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import type { RoomRecord, Store, SystemEvent } from "../../src/store/store.ts";
import { members, room as newRoom } from "../contract/fixtures.ts";
import { dropPrefix, REDIS_URL, removeDir, tempDir, uniquePrefix } from "../helpers/env.ts";
import { makeFakeCouchbaseStore } from "../helpers/fake-couchbase.ts";

/**
 * A group's avatar and the deletion of its media (issue 18, item 4), with each interleaving of
 * an avatar change against the deletion forced: the room never ends up showing a deleted media.
 */
const prefix = uniquePrefix("avatar");
const dir = tempDir("avatar");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
const queueConn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const logger = createLogger("silent", "test");
const local = new LocalMediaStorage(path.join(dir, "media"), new UrlSigner("k".repeat(32), "http://h"));

/** Hooks that hold one side at a chosen point (each runs once). */
let afterAvatarCheck: (() => Promise<void>) | undefined;
let afterMarkedDeleted: (() => Promise<void>) | undefined;
const once = async (hook: (() => Promise<void>) | undefined) => {
  if (!hook) return;
  afterAvatarCheck = hook === afterAvatarCheck ? undefined : afterAvatarCheck;
  afterMarkedDeleted = hook === afterMarkedDeleted ? undefined : afterMarkedDeleted;
  await hook();
};

class HookedJobs extends MediaJobs {
  // The deletion queues its job right after marking the media deleted, before it looks for rooms.
  override async delete(mediaId: string): Promise<void> {
    await super.delete(mediaId);
    await once(afterMarkedDeleted);
  }
}

const posted: { roomId: string; event: SystemEvent; mediaId: string | undefined }[] = [];
const updated: RoomRecord[] = [];

/** The media and groups services over one store, with the hooks above in their paths. */
function compose(store: Store) {
  const views = new MediaViews(store, local, 3600);
  const membersCache = new MembershipCache(redis, keys, store, 60);
  const change = new MembershipChange(
    new FanoutJobs(new JobProducer(fanoutQueue, queueConn, keys)),
    membersCache,
    logger,
  );
  let groups: GroupsService | undefined;
  const media = new MediaService({
    store,
    storage: local,
    jobs: new HookedJobs(new JobProducer(mediaQueue, queueConn, keys)),
    views,
    reader: new MessageReader(store, new PendingRepository(redis, keys, 3600), views),
    config: {
      maxBytes: { image: 1 << 24, video: 1 << 24, audio: 1 << 24, file: 1 << 24 },
      uploadTtlS: 900,
      pendingMaxBytes: 1 << 30,
    },
    avatars: { mediaDeleted: async (id, actor) => groups?.mediaDeleted(id, actor) },
  });
  const avatarMedia: AvatarMedia = {
    attachable: async (user, mediaId, kind) => {
      const found = await media.attachable(user, mediaId, kind);
      await once(afterAvatarCheck);
      return found;
    },
    isDeleted: (mediaId) => media.isDeleted(mediaId),
  };
  groups = new GroupsService({
    store,
    members: membersCache,
    change,
    counters: new RoomCounters(redis, keys, store),
    messages: {
      postSystem: async (roomId, event, mediaId) => {
        posted.push({ roomId, event, mediaId });
        return {} as MessageView;
      },
    },
    events: {
      joinRoom: async () => {},
      leaveRoom: async () => {},
      roomUpdated: (room) => void updated.push(room),
      membersAdded: () => {},
      membersRemoved: () => {},
    },
    view: async (_user, roomId) => {
      const room = await store.getRoom(roomId);
      if (!room) throw new Error("no room");
      return toRoomView(room, null);
    },
    config: { maxGroupMembers: 100 },
    blocks: new BlocksService(store, change),
    locks: new RoomLocks(redis, keys),
    media: avatarMedia,
  });
  return { store, media, groups };
}

afterAll(async () => {
  await dropPrefix(prefix);
  redis.disconnect();
  queueConn.disconnect();
  removeDir(dir);
});

const alice: AuthUser = {
  id: "av-alice",
  name: undefined,
  admin: false,
  expiresAt: Date.now() / 1000 + 3600,
};

let ctx: ReturnType<typeof compose>;

async function image(): Promise<string> {
  const id = newId();
  const keys = newObjectKeys(id);
  const now = new Date().toISOString();
  await ctx.store.createMedia({
    id,
    owner_id: alice.id,
    kind: "image",
    status: "ready",
    filename: "a.jpg",
    content_type: "image/jpeg",
    size: 10,
    upload_key: keys.upload,
    object_key: keys.object,
    thumb_key: null,
    placeholder: null,
    width: 1,
    height: 1,
    duration: null,
    failure: null,
    created_at: now,
    updated_at: now,
    deleted_at: null,
  });
  return id;
}

async function group(): Promise<string> {
  const room = await ctx.store.createGroupRoom(
    newRoom({ created_by: alice.id }),
    members(alice.id, "av-bob"),
  );
  return room.id;
}

const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  let reached!: () => void;
  const arrived = new Promise<void>((r) => {
    reached = r;
  });
  return {
    hook: async () => {
      reached();
      await opened;
    },
    arrived,
    open,
  };
};

beforeEach(() => {
  posted.length = 0;
  updated.length = 0;
  afterAvatarCheck = undefined;
  afterMarkedDeleted = undefined;
});

describe.each([
  ["sqlite", async () => openSqliteStore(path.join(dir, "chat.sqlite"))],
  ["couchbase (in-memory fake of the SDK)", async () => makeFakeCouchbaseStore().store],
] as const)("%s: a group's avatar and the deletion of its media", (_adapter, makeStore) => {
  beforeAll(async () => {
    ctx = compose(await makeStore());
  });
  afterAll(async () => {
    await ctx.store.close();
  });

  it("deleting the media takes it off every group showing it, with a revision, a system message and room:updated", async () => {
    const [a, b, other] = [await group(), await group(), await group()];
    const id = await image();
    const kept = await image();
    await ctx.groups.update(alice, a, { avatar_media_id: id });
    await ctx.groups.update(alice, b, { avatar_media_id: id });
    await ctx.groups.update(alice, other, { avatar_media_id: kept });
    const revBefore = (await ctx.store.getRoom(a))?.rev ?? 0;
    posted.length = 0;
    updated.length = 0;

    await ctx.media.delete(alice, id);
    expect((await ctx.store.getRoom(a))?.avatar_media_id).toBeNull();
    expect((await ctx.store.getRoom(b))?.avatar_media_id).toBeNull();
    expect((await ctx.store.getRoom(other))?.avatar_media_id).toBe(kept);
    expect((await ctx.store.getRoom(a))?.rev).toBeGreaterThan(revBefore);
    expect(updated.map((r) => [r.id, r.avatar_media_id]).sort()).toEqual(
      [
        [a, null],
        [b, null],
      ].sort(),
    );
    expect(posted.map((p) => p.event)).toEqual([
      { event: "room_updated", actor_id: alice.id, fields: ["avatar_media_id"] },
      { event: "room_updated", actor_id: alice.id, fields: ["avatar_media_id"] },
    ]);
    // A repeated delete changes nothing more.
    await ctx.media.delete(alice, id);
    expect(updated).toHaveLength(2);
  });

  it("once deleted, the media cannot become an avatar (the change is refused)", async () => {
    const roomId = await group();
    const id = await image();
    await ctx.media.delete(alice, id);
    await expect(ctx.groups.update(alice, roomId, { avatar_media_id: id })).rejects.toMatchObject({
      code: "invalid_request",
    });
    expect((await ctx.store.getRoom(roomId))?.avatar_media_id).toBeNull();
  });

  it("the avatar change checked the media, then the whole deletion ran, then the change wrote: the change takes it off again", async () => {
    const roomId = await group();
    const id = await image();
    const change = gate();
    afterAvatarCheck = change.hook;
    const patch = ctx.groups.update(alice, roomId, { avatar_media_id: id });
    await change.arrived;
    await ctx.media.delete(alice, id);
    change.open();
    const view = await patch;
    expect(view.avatar_media_id).toBeNull();
    expect((await ctx.store.getRoom(roomId))?.avatar_media_id).toBeNull();
    expect(updated.at(-1)).toMatchObject({ id: roomId, avatar_media_id: null });
    // The change's system message does not link the deleted media to the room.
    expect(posted.map((p) => p.mediaId)).toEqual([undefined]);
  });

  it("the deletion marked the media and waits before looking for rooms: an avatar change meanwhile is refused", async () => {
    const roomId = await group();
    const id = await image();
    const deletion = gate();
    afterMarkedDeleted = deletion.hook;
    const done = ctx.media.delete(alice, id);
    await deletion.arrived;
    await expect(ctx.groups.update(alice, roomId, { avatar_media_id: id })).rejects.toMatchObject({
      code: "invalid_request",
    });
    deletion.open();
    await done;
    expect((await ctx.store.getRoom(roomId))?.avatar_media_id).toBeNull();
    expect(updated).toEqual([]);
  });

  it("the change checked, the deletion marked, the change wrote and looked, the deletion looked: no avatar", async () => {
    const roomId = await group();
    const id = await image();
    const change = gate();
    const deletion = gate();
    afterAvatarCheck = change.hook;
    afterMarkedDeleted = deletion.hook;
    const patch = ctx.groups.update(alice, roomId, { avatar_media_id: id });
    await change.arrived;
    const done = ctx.media.delete(alice, id);
    await deletion.arrived;
    change.open();
    expect((await patch).avatar_media_id).toBeNull();
    deletion.open();
    await done;
    expect((await ctx.store.getRoom(roomId))?.avatar_media_id).toBeNull();
    expect(updated.at(-1)).toMatchObject({ id: roomId, avatar_media_id: null });
  });
});
