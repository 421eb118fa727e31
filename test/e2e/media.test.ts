import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { beforeAll, describe, expect, it } from "vitest";
import type { Client } from "../helpers/http.ts";
import { garbage, HAS_FFMPEG, jpeg, video } from "../helpers/media-files.ts";
import { startWorkerProcess } from "../helpers/processes.ts";
import { collect, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Media = {
  id: string;
  status: string;
  kind: string;
  content_type: string;
  size: number;
  url: string | null;
  thumbnail_url: string | null;
  placeholder: string | null;
  width: number | null;
  height: number | null;
  duration: number | null;
  failure_reason: string | null;
};
type Upload = {
  upload_id: string;
  url: string;
  method: string;
  headers: Record<string, string>;
  expires_at: string;
};
type Message = { id: string; type: string; text: string | null; media: Media | null; rev: number };
type ErrorBody = { error: { code: string; message: string } };

const t = useTwoNodes("media", { workers: 1 });
const { on, open } = t;
let nodeA = "";
let nodeB = "";
beforeAll(() => {
  ({ nodeA, nodeB } = t);
  // The media pool signs URLs for its announcements: they point at node A.
  t.cluster.workers.push(startWorkerProcess({ ...t.cluster.env, PUBLIC_URL: nodeA }, "media"));
});

/** Upload URL, PUT, confirm: what a client does before sending a media message. */
async function upload(
  client: Client,
  body: Buffer,
  contentType: string,
  filename = "file",
): Promise<{ upload: Upload; confirm: { status: number; body: { media: Media } & ErrorBody } }> {
  const res = await client.call<Upload>("POST", "/media/upload-url", {
    filename,
    content_type: contentType,
    size: body.length,
  });
  expect(res.status).toBe(201);
  const put = await fetch(res.body.url, { method: "PUT", headers: res.body.headers, body });
  expect(put.status).toBe(200);
  const confirm = await client.call<{ media: Media } & ErrorBody>("POST", "/media/confirm", {
    upload_id: res.body.upload_id,
  });
  return { upload: res.body, confirm };
}

const mediaFiles = () => {
  const dir = path.join(t.cluster.dataDir, "media");
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith(".")) : [];
};

describe("media end to end", () => {
  it("an image sent in a chat reaches the other member, then its thumbnail arrives by message:updated", async () => {
    const roomId = await t.group("m-alice", ["m-bob"]);
    const alice = on(nodeA, "m-alice");
    const aliceSocket = await open(nodeA, "m-alice");
    const bobSocket = await open(nodeB, "m-bob", "polling");
    const ready = collect<{ media: Media }>(aliceSocket, "media:ready");
    const news = collect<{ message: Message }>(bobSocket, "message:new");
    const updates = collect<{ message: Message }>(bobSocket, "message:updated");

    const photo = await jpeg(1200, 800, 6);
    const { confirm } = await upload(alice, photo, "image/jpeg", "holiday.jpg");
    expect(confirm.status).toBe(200);
    const media = confirm.body.media;
    expect(media).toMatchObject({
      status: "processing",
      kind: "image",
      content_type: "image/jpeg",
      size: photo.length,
    });
    expect(media.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/media\/files\//);

    const sent = await alice.call<{ message: Message }>("POST", `/rooms/${roomId}/messages`, {
      client_id: "img-1",
      type: "image",
      media_id: media.id,
      text: "look",
    });
    expect(sent.status).toBe(201);
    expect(sent.body.message).toMatchObject({ type: "image", text: "look" });
    expect(sent.body.message.media?.id).toBe(media.id);

    await waitFor(() => news.length === 1, 5000, "message:new on bob's socket");
    expect(news[0]?.message.media?.id).toBe(media.id);
    await waitFor(() => ready.length === 1, 20_000, "media:ready to the uploader");
    const done = ready[0]?.media as Media;
    // Dimensions as displayed: the EXIF tag turns 1200x800 a quarter.
    expect(done).toMatchObject({ status: "ready", width: 800, height: 1200 });
    expect(done.placeholder?.startsWith("data:image/webp;base64,")).toBe(true);
    expect(done.placeholder?.length).toBeLessThanOrEqual(1024);

    // Either the send already saw the media ready, or the pool announced it to the room.
    const seenReady = () =>
      news[0]?.message.media?.thumbnail_url || updates.some((u) => u.message.media?.thumbnail_url);
    await waitFor(() => Boolean(seenReady()), 10_000, "a thumbnail URL reaches bob");
    const viaSocket = news[0]?.message.media?.thumbnail_url
      ? (news[0]?.message as Message)
      : (updates.find((u) => u.message.media?.thumbnail_url)?.message as Message);
    if (!news[0]?.message.media?.thumbnail_url) {
      expect(viaSocket.rev).toBeGreaterThan(news[0]?.message.rev ?? 0);
    }
    const thumb = await fetch(viaSocket.media?.thumbnail_url ?? "");
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get("content-type")).toBe("image/webp");
    const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([213, 320]);

    // The original downloads byte for byte, without a token.
    const original = await fetch(viaSocket.media?.url ?? "");
    expect(original.status).toBe(200);
    expect(original.headers.get("content-length")).toBe(String(photo.length));
    expect(Buffer.from(await original.arrayBuffer()).equals(photo)).toBe(true);

    // Bob reads it in history and by id with the thumbnail; GET /media works for him too.
    const history = await on(nodeB, "m-bob").call<{ messages: Message[] }>(
      "GET",
      `/rooms/${roomId}/messages`,
    );
    const inHistory = history.body.messages.find((m) => m.id === sent.body.message.id);
    expect(inHistory?.media?.thumbnail_url).toBeTruthy();
    const listed = await on(nodeB, "m-bob").call<{ rooms: { id: string; last_message: Message | null }[] }>(
      "GET",
      "/rooms",
    );
    expect(listed.body.rooms.find((r) => r.id === roomId)?.last_message?.media?.thumbnail_url).toBeTruthy();
    const asBob = await on(nodeB, "m-bob").call<{ media: Media }>("GET", `/media/${media.id}`);
    expect(asBob.status).toBe(200);
    expect(asBob.body.media.status).toBe("ready");
  });

  it("GET and DELETE /media/:id: the uploader and room members see it, others get 404; only the uploader deletes", async () => {
    const roomId = await t.group("p-alice", ["p-bob"]);
    const alice = on(nodeA, "p-alice");
    const { confirm } = await upload(alice, await jpeg(64, 64), "image/jpeg");
    const id = confirm.body.media.id;
    // Not sent anywhere yet: only alice sees it.
    expect((await on(nodeA, "p-bob").call("GET", `/media/${id}`)).status).toBe(404);
    expect((await alice.call("GET", `/media/${id}`)).status).toBe(200);
    const sent = await alice.call<{ message: Message }>("POST", `/rooms/${roomId}/messages`, {
      client_id: "p-1",
      type: "image",
      media_id: id,
    });
    expect(sent.status).toBe(201);
    expect(sent.body.message.text).toBeNull();
    expect((await on(nodeB, "p-bob").call("GET", `/media/${id}`)).status).toBe(200);
    expect((await on(nodeB, "p-carol").call("GET", `/media/${id}`)).status).toBe(404);
    expect((await on(nodeB, "p-carol").call("DELETE", `/media/${id}`)).status).toBe(404);
    expect((await on(nodeB, "p-bob").call("DELETE", `/media/${id}`)).status).toBe(403);
    // Bob may not send alice's media himself.
    const stolen = await on(nodeB, "p-bob").call<ErrorBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "p-2",
      type: "image",
      media_id: id,
    });
    expect(stolen.status).toBe(400);

    await waitFor(
      async () => (await alice.call<{ media: Media }>("GET", `/media/${id}`)).body.media?.status === "ready",
      20_000,
      "ready",
    );
    const before = mediaFiles().filter((f) => f.includes(id));
    expect(before.length).toBe(2); // the original and its thumbnail
    const bobSocket = await open(nodeB, "p-bob");
    const updates = collect<{ message: Message }>(bobSocket, "message:updated");
    expect((await alice.call("DELETE", `/media/${id}`)).status).toBe(204);
    expect((await alice.call("GET", `/media/${id}`)).status).toBe(404);
    expect((await on(nodeB, "p-bob").call("GET", `/media/${id}`)).status).toBe(404);
    await waitFor(() => mediaFiles().filter((f) => f.includes(id)).length === 0, 20_000, "objects removed");
    await waitFor(() => updates.length > 0, 5000, "message:updated after the delete");
    expect(updates[0]?.message).toMatchObject({ id: sent.body.message.id, media: null });
    const read = await on(nodeB, "p-bob").call<{ message: Message }>(
      "GET",
      `/messages/${sent.body.message.id}`,
    );
    expect(read.body.message.media).toBeNull();
    // Deleting again is a no-op for the uploader.
    expect((await alice.call("DELETE", `/media/${id}`)).status).toBe(204);
  });

  it("refuses what it must: types off the list (415), oversize (413), content that lies (415, object deleted), others' uploads (404)", async () => {
    const alice = on(nodeA, "r-alice");
    const exe = await alice.call<ErrorBody>("POST", "/media/upload-url", {
      filename: "x.html",
      content_type: "text/html",
      size: 10,
    });
    expect(exe.status).toBe(415);
    expect(exe.body.error.code).toBe("unsupported_media_type");
    const big = await alice.call<ErrorBody>("POST", "/media/upload-url", {
      filename: "big.jpg",
      content_type: "image/jpeg",
      size: 16 * 1024 * 1024 + 1,
    });
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe("payload_too_large");
    // Bytes of uploads started per URL lifetime are capped per user (1 GiB by default).
    const held: number[] = [];
    for (let i = 0; i < 11; i++) {
      held.push(
        (
          await on(nodeA, "r-hoarder").call("POST", "/media/upload-url", {
            filename: "big.zip",
            content_type: "application/zip",
            size: 100 * 1024 * 1024,
          })
        ).status,
      );
    }
    expect(held).toEqual([...Array(10).fill(201), 413]);
    const badName = await alice.call<ErrorBody>("POST", "/media/upload-url", {
      filename: "../../etc/passwd",
      content_type: "image/jpeg",
      size: 10,
    });
    expect(badName.status).toBe(400);

    const { upload: lie, confirm } = await upload(alice, garbage(), "image/jpeg", "fake.jpg");
    expect(confirm.status).toBe(415);
    expect(confirm.body.error.code).toBe("unsupported_media_type");
    expect(mediaFiles().some((f) => f.includes(lie.upload_id))).toBe(false);
    const failed = await alice.call<{ media: Media }>("GET", `/media/${lie.upload_id}`);
    expect(failed.body.media).toMatchObject({ status: "failed", url: null });
    const roomId = await t.group("r-alice", ["r-bob"]);
    const sendFailed = await alice.call<ErrorBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "r-1",
      type: "image",
      media_id: lie.upload_id,
    });
    expect(sendFailed.status).toBe(400);

    // Confirming before uploading: 409; confirming someone else's upload: 404.
    const pending = await alice.call<Upload>("POST", "/media/upload-url", {
      filename: "a.png",
      content_type: "image/png",
      size: 100,
    });
    expect((await alice.call("POST", "/media/confirm", { upload_id: pending.body.upload_id })).status).toBe(
      409,
    );
    expect(
      (await on(nodeA, "r-bob").call("POST", "/media/confirm", { upload_id: pending.body.upload_id })).status,
    ).toBe(404);
    // Sending a media still pending, or as the wrong kind: 400.
    const notConfirmed = await alice.call<ErrorBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "r-2",
      type: "image",
      media_id: pending.body.upload_id,
    });
    expect(notConfirmed.status).toBe(400);
    const { confirm: ok } = await upload(alice, await jpeg(32, 32), "image/jpeg");
    const wrongKind = await alice.call<ErrorBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "r-3",
      type: "video",
      media_id: ok.body.media.id,
    });
    expect(wrongKind.status).toBe(400);
    const textWithMedia = await alice.call<ErrorBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "r-4",
      type: "text",
      text: "hi",
      media_id: ok.body.media.id,
    });
    expect(textWithMedia.status).toBe(400);
    const noMedia = await alice.call<ErrorBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "r-5",
      type: "image",
    });
    expect(noMedia.status).toBe(400);
    // A non-member learns nothing about a room through a media send.
    const outsider = await on(nodeA, "r-carol").call<ErrorBody>("POST", `/rooms/${roomId}/messages`, {
      client_id: "r-6",
      type: "image",
      media_id: ok.body.media.id,
    });
    expect(outsider.status).toBe(404);
  });

  it("a group photo: the admin's own confirmed image only; its system message carries it, so members may fetch it", async () => {
    const roomId = await t.group("g-alice", ["g-bob"]);
    const alice = on(nodeA, "g-alice");
    const bob = on(nodeB, "g-bob");
    const { confirm } = await upload(alice, await jpeg(64, 64), "image/jpeg");
    const id = confirm.body.media.id;
    const { confirm: bobs } = await upload(bob, await jpeg(64, 64), "image/jpeg");
    const foreign = await alice.call<ErrorBody>("PATCH", `/rooms/${roomId}`, {
      avatar_media_id: bobs.body.media.id,
    });
    expect(foreign.status).toBe(400);
    const { confirm: doc } = await upload(
      alice,
      Buffer.from("%PDF-1.4\n%%EOF\n"),
      "application/pdf",
      "a.pdf",
    );
    expect(doc.status).toBe(200);
    const notImage = await alice.call<ErrorBody>("PATCH", `/rooms/${roomId}`, {
      avatar_media_id: doc.body.media.id,
    });
    expect(notImage.status).toBe(400);
    expect((await bob.call("GET", `/media/${id}`)).status).toBe(404);

    const set = await alice.call<{ room: { avatar_media_id: string } }>("PATCH", `/rooms/${roomId}`, {
      avatar_media_id: id,
    });
    expect(set.status).toBe(200);
    expect(set.body.room.avatar_media_id).toBe(id);
    const history = await bob.call<{ messages: (Message & { system: { event: string } | null })[] }>(
      "GET",
      `/rooms/${roomId}/messages`,
    );
    const announced = history.body.messages.find((m) => m.system?.event === "room_updated");
    expect(announced?.media?.id).toBe(id);
    expect((await bob.call("GET", `/media/${id}`)).status).toBe(200);
    expect((await on(nodeB, "g-carol").call("GET", `/media/${id}`)).status).toBe(404);
  });

  it("deleting a group photo takes it off the group: GET shows no avatar, and members get room:updated", async () => {
    const roomId = await t.group("d-alice", ["d-bob"]);
    const alice = on(nodeA, "d-alice");
    const bobSocket = await open(nodeB, "d-bob");
    const updates = collect<{ room: { id: string; avatar_media_id: string | null } }>(
      bobSocket,
      "room:updated",
    );
    const { confirm } = await upload(alice, await jpeg(32, 32), "image/jpeg");
    const id = confirm.body.media.id;
    expect((await alice.call("PATCH", `/rooms/${roomId}`, { avatar_media_id: id })).status).toBe(200);
    await waitFor(() => updates.some((u) => u.room.avatar_media_id === id), 5000, "the avatar set");

    expect((await alice.call("DELETE", `/media/${id}`)).status).toBe(204);
    const room = await on(nodeB, "d-bob").call<{ room: { avatar_media_id: string | null } }>(
      "GET",
      `/rooms/${roomId}`,
    );
    expect(room.body.room.avatar_media_id).toBeNull();
    await waitFor(
      () => updates.at(-1)?.room.avatar_media_id === null,
      5000,
      "room:updated without the avatar",
    );
    const again = await alice.call<ErrorBody>("PATCH", `/rooms/${roomId}`, { avatar_media_id: id });
    expect(again.status).toBe(400);
  });

  it("one body in flight per upload URL across both API processes: the other answers 409 upload_in_progress", async () => {
    const alice = on(nodeA, "u-alice");
    const size = 64 * 1024;
    const res = await alice.call<Upload>("POST", "/media/upload-url", {
      filename: "a.pdf",
      content_type: "application/pdf",
      size,
    });
    expect(res.status).toBe(201);
    const onA = new URL(res.body.url);
    onA.host = new URL(nodeA).host;
    const onB = new URL(res.body.url);
    onB.host = new URL(nodeB).host;
    let sendRest!: () => void;
    const rest = new Promise<void>((r) => {
      sendRest = r;
    });
    const body = new ReadableStream({
      async start(c) {
        c.enqueue(new Uint8Array(size - 1024));
        await rest;
        c.enqueue(new Uint8Array(1024));
        c.close();
      },
    });
    const first = fetch(onA, {
      method: "PUT",
      headers: { ...res.body.headers, "content-length": String(size) },
      body,
      duplex: "half",
    } as RequestInit);
    const inflight = path.join(t.cluster.dataDir, "media", ".uploads");
    const temporaries = () => readdirSync(inflight);
    await waitFor(() => existsSync(inflight) && temporaries().length === 1, 5000, "the body is in flight");
    const second = await fetch(onB, { method: "PUT", headers: res.body.headers, body: Buffer.alloc(size) });
    expect(second.status).toBe(409);
    expect(await second.json()).toMatchObject({
      error: { code: "conflict", details: { reason: "upload_in_progress" } },
    });
    expect(temporaries()).toHaveLength(1);
    sendRest();
    expect((await first).status).toBe(200);
  });

  it.skipIf(!HAS_FFMPEG)("a video gets a poster thumbnail, its duration and its displayed size", async () => {
    const alice = on(nodeA, "v-alice");
    const socket = await open(nodeA, "v-alice");
    const ready = collect<{ media: Media }>(socket, "media:ready");
    const clip = video(t.cluster.dataDir, 2, { rotate: 90 });
    const { confirm } = await upload(alice, clip, "video/mp4", "clip.mp4");
    expect(confirm.status).toBe(200);
    await waitFor(() => ready.length === 1, 30_000, "media:ready for the video");
    expect(ready[0]?.media).toMatchObject({
      kind: "video",
      status: "ready",
      width: 240,
      height: 320,
      duration: 2,
    });
    const thumb = await fetch(ready[0]?.media.thumbnail_url ?? "");
    expect(thumb.status).toBe(200);
    const meta = await sharp(Buffer.from(await thumb.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([240, 320]);
  });
  if (!HAS_FFMPEG) it("video processing (skipped: ffmpeg is not installed)", () => {});
});
