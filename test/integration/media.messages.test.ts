import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuthUser } from "../../src/auth/jwt.ts";
import type { MediaView, MessageView } from "../../src/contract/views.ts";
import { MediaService } from "../../src/media/media.service.ts";
import { MediaViews } from "../../src/media/media.views.ts";
import { MediaJobsUseCase } from "../../src/media/process-media.usecase.ts";
import { AvProcessor } from "../../src/media/processing/av.processor.ts";
import { Ffmpeg } from "../../src/media/processing/ffmpeg.ts";
import { ImageProcessor } from "../../src/media/processing/image.processor.ts";
import { LocalMediaStorage } from "../../src/media-storage/local.storage.ts";
import { UrlSigner } from "../../src/media-storage/url-signer.ts";
import { MembershipCache } from "../../src/membership/membership.cache.ts";
import { AcceptRepository } from "../../src/messages/accept.repository.ts";
import { BacklogGauge } from "../../src/messages/backlog.gauge.ts";
import { MediaUpdates } from "../../src/messages/media-updates.ts";
import { MessageReader } from "../../src/messages/message.reader.ts";
import { MessagesService } from "../../src/messages/messages.service.ts";
import { MessageOpsRepository } from "../../src/messages/ops.repository.ts";
import { PendingRepository } from "../../src/messages/pending.repository.ts";
import { RoomCounters } from "../../src/messages/room-counters.repository.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Keys } from "../../src/redis/redis.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import { room as newRoom } from "../contract/fixtures.ts";
import { dropPrefix, REDIS_URL, removeDir, tempDir, uniquePrefix } from "../helpers/env.ts";
import { jpeg } from "../helpers/media-files.ts";
import { mediaJobs, persistJobs } from "../helpers/producers.ts";

/**
 * The race between a media send and the media pool finishing, with each interleaving forced:
 * whichever side goes first, the room ends up seeing the thumbnail.
 */
const prefix = uniquePrefix("mediamsg");
const dir = tempDir("mediamsg");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
const queueConn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const store = openSqliteStore(":memory:");
const pending = new PendingRepository(redis, keys, 3600);
const counters = new RoomCounters(redis, keys, store);
const local = new LocalMediaStorage(path.join(dir, "media"), new UrlSigner("k".repeat(32), "http://h"));
const views = new MediaViews(store, local, 3600);
const reader = new MessageReader(store, pending, views);
const persist = persistJobs(queueConn, keys, {
  maxDelayMs: 1,
  maxMessages: 50,
  minIntervalMs: 0,
});
const jobs = mediaJobs(queueConn, keys);
const backlog = { maxMessages: 1_000_000, maxBytes: 1 << 30 };

const updated: MessageView[] = [];
const settled: MediaView[] = [];
const pool = new MediaJobsUseCase({
  store,
  storage: local,
  image: new ImageProcessor(50_000_000),
  av: new AvProcessor(
    new Ffmpeg({ ffmpegPath: "ffmpeg", ffprobePath: "ffprobe", timeoutMs: 10_000 }),
    50_000_000,
  ),
  updates: new MediaUpdates({
    store,
    reader,
    ops: new MessageOpsRepository(redis, keys, counters, new BacklogGauge(redis, keys, backlog)),
    persist,
    views,
    events: { mediaSettled: (_owner, m) => settled.push(m), messageUpdated: (m) => updated.push(m) },
  }),
  tmpDir: dir,
  logger: createLogger("silent", "test"),
});

/** Runs once right after the next link is written (before the message is accepted). */
let afterLink: (() => Promise<unknown>) | undefined;
class HookedMedia extends MediaService {
  override async link(mediaId: string, roomId: string, messageId: string): Promise<void> {
    await super.link(mediaId, roomId, messageId);
    const hook = afterLink;
    afterLink = undefined;
    await hook?.();
  }
}
const media = new HookedMedia({
  store,
  storage: local,
  jobs,
  views,
  reader,
  config: {
    maxBytes: { image: 1 << 24, video: 1 << 26, audio: 1 << 24, file: 1 << 26 },
    uploadTtlS: 900,
    pendingMaxBytes: 1 << 30,
  },
});
const messages = new MessagesService({
  store,
  members: new MembershipCache(redis, keys, store, 3600),
  accept: new AcceptRepository(redis, keys, new BacklogGauge(redis, keys, backlog), 3600),
  counters,
  reader,
  persist,
  events: { messageNew: () => {} },
  config: { maxTextChars: 100, maxMentions: 50, idempotencyWindowS: 3600 },
  media,
});
const alice: AuthUser = { id: "alice", name: undefined, admin: false, expiresAt: Date.now() + 3_600_000 };
let roomId = "";

/** An image uploaded and confirmed through the service, as a client would: `processing`. */
async function confirmedImage(): Promise<string> {
  const data = await jpeg(400, 300);
  const up = await media.createUpload(alice, {
    filename: "p.jpg",
    content_type: "image/jpeg",
    size: data.length,
  });
  await local.put(new URL(up.url).pathname.split("/").at(-1) ?? "", data, "image/jpeg");
  const confirmed = await media.confirm(alice, { upload_id: up.upload_id });
  expect(confirmed.status).toBe("processing");
  return confirmed.id;
}

beforeAll(async () => {
  const now = new Date().toISOString();
  const room = await store.createGroupRoom(
    newRoom({ created_by: "alice", created_at: now, updated_at: now }),
    [{ user_id: "alice", role: "admin", joined_at: now }],
  );
  roomId = room.id;
});
afterAll(async () => {
  await persist.close();
  await jobs.close();
  await dropPrefix(prefix);
  redis.disconnect();
  queueConn.disconnect();
  await store.close();
  removeDir(dir);
});

const sendImage = (clientId: string, mediaId: string) =>
  messages.send(alice, roomId, { client_id: clientId, type: "image", media_id: mediaId }, "rest");

describe("confirm under racing uploads", () => {
  async function started(data: Buffer, type: string) {
    const up = await media.createUpload(alice, { filename: "f", content_type: type, size: data.length });
    const key = new URL(up.url).pathname.split("/").at(-1) ?? "";
    await local.put(key, data, type);
    return { up, key };
  }

  it("a PUT that swaps the file after confirm placed it changes nothing: what was checked is what is kept", async () => {
    const pdf = Buffer.concat([Buffer.from("%PDF-1.4\n"), Buffer.alloc(4087, 32)]);
    const { up, key } = await started(pdf, "application/pdf");
    // Between the placement and the checks, the client PUTs a same-size executable.
    const swapped = Buffer.concat([Buffer.from("MZ"), Buffer.alloc(pdf.length - 2, 65)]);
    const original = local.placeOnce.bind(local);
    local.placeOnce = async (from, to) => {
      await original(from, to);
      await local.put(key, swapped, "application/pdf");
    };
    try {
      const confirmed = await media.confirm(alice, { upload_id: up.upload_id });
      expect(confirmed.content_type).toBe("application/pdf");
    } finally {
      local.placeOnce = original;
    }
    const record = await store.getMedia(up.upload_id);
    expect((await local.readHead(record?.object_key ?? "", 5)).toString()).toBe("%PDF-");
    // A second confirm (the swapped upload still sits at the upload key) keeps the first object.
    await media.confirm(alice, { upload_id: up.upload_id });
    expect((await local.readHead(record?.object_key ?? "", 5)).toString()).toBe("%PDF-");
  });

  it("a swap before the placement is what gets checked, and refused", async () => {
    const { up, key } = await started(await jpeg(32, 32), "image/jpeg");
    await local.put(key, Buffer.alloc(2000, 65), "image/jpeg");
    await expect(media.confirm(alice, { upload_id: up.upload_id })).rejects.toMatchObject({
      code: "invalid_request", // the size no longer matches
    });
    const again = media.confirm(alice, { upload_id: up.upload_id });
    await expect(again).rejects.toMatchObject({ code: "conflict" });
    expect((await store.getMedia(up.upload_id))?.status).toBe("failed");
    expect(await local.stat(key)).toBeNull();
  });

  it("concurrent confirms agree: one job, one answer, no 500", async () => {
    const { up } = await started(await jpeg(32, 32), "image/jpeg");
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, () => media.confirm(alice, { upload_id: up.upload_id })),
    );
    expect(results.every((r) => r.status === "fulfilled" && r.value.status === "processing")).toBe(true);
  });
});

describe("a media send racing the media pool", () => {
  it("the pool finishes after the link but before the accept: the send itself carries the thumbnail", async () => {
    const id = await confirmedImage();
    updated.length = 0;
    afterLink = () => pool.process(id);
    const { message } = await sendImage("race-1", id);
    expect(afterLink).toBeUndefined();
    // The pool's announcement found no accepted message yet, so the send's own read is what counts.
    expect(updated).toEqual([]);
    expect(message.media).toMatchObject({ id, status: "ready" });
    expect(message.media?.thumbnail_url).toBeTruthy();
  });

  it("the pool finishes after the send: the message changes by revision and message:updated carries the thumbnail", async () => {
    const id = await confirmedImage();
    updated.length = 0;
    const { message } = await sendImage("race-2", id);
    expect(message.media).toMatchObject({ id, status: "processing", thumbnail_url: null, placeholder: null });
    await pool.process(id);
    expect(updated).toHaveLength(1);
    expect(updated[0]?.id).toBe(message.id);
    expect(updated[0]?.rev).toBeGreaterThan(message.rev);
    expect(updated[0]?.media?.thumbnail_url).toBeTruthy();
    const read = await reader.get(message.id, "alice");
    expect(read?.rev).toBe(updated[0]?.rev);
    expect(settled.at(-1)).toMatchObject({ id, status: "ready" });
  });

  it("one media in several messages: every message is announced", async () => {
    const id = await confirmedImage();
    updated.length = 0;
    const a = (await sendImage("multi-1", id)).message;
    const b = (await sendImage("multi-2", id)).message;
    await pool.process(id);
    expect(updated.map((m) => m.id).sort()).toEqual([a.id, b.id].sort());
  });

  it("a link whose send failed names no message and is skipped", async () => {
    const id = await confirmedImage();
    updated.length = 0;
    // The link is written, then the accept refuses (a mention of a non-member).
    const refused = messages.send(
      alice,
      roomId,
      { client_id: "bad-1", type: "image", media_id: id, mentions: ["zed"] },
      "rest",
    );
    await expect(refused).rejects.toMatchObject({ code: "invalid_request" });
    expect(await store.mediaLinks(id, 10)).toHaveLength(1);
    await pool.process(id);
    expect(updated).toEqual([]);
  });
});
