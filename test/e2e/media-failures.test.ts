import { chmodSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import S3rver from "s3rver";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../helpers/cluster.ts";
import { removeDir, token } from "../helpers/env.ts";
import { Client } from "../helpers/http.ts";
import { HAS_FFMPEG, jpeg, video } from "../helpers/media-files.ts";
import { freePort, startWorkerProcess } from "../helpers/processes.ts";
import { connect, TRANSPORTS, waitFor } from "../helpers/socket.ts";

type Media = {
  id: string;
  status: string;
  url: string | null;
  thumbnail_url: string | null;
  width: number | null;
};
type Upload = { upload_id: string; url: string; headers: Record<string, string> };

let cluster: Cluster | undefined;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await cluster?.stop();
  cluster = undefined;
  for (const c of cleanups.splice(0)) await c();
});

async function upload(client: Client, body: Buffer, contentType: string): Promise<Media> {
  const res = await client.call<Upload>("POST", "/media/upload-url", {
    filename: "f",
    content_type: contentType,
    size: body.length,
  });
  expect(res.status).toBe(201);
  const put = await fetch(res.body.url, { method: "PUT", headers: res.body.headers, body });
  expect(put.status).toBe(200);
  const confirm = await client.call<{ media: Media }>("POST", "/media/confirm", {
    upload_id: res.body.upload_id,
  });
  expect(confirm.status).toBe(200);
  return confirm.body.media;
}

const statusOf = async (client: Client, id: string) =>
  (await client.call<{ media: Media }>("GET", `/media/${id}`)).body.media?.status;

describe("media pool failures", () => {
  it.skipIf(!HAS_FFMPEG)(
    "a media worker killed -9 mid-job: another worker takes the job over once its lock lapses, and the media ends ready",
    async () => {
      // ffprobe that announces itself, then hangs: the job is provably in flight when the worker dies.
      const dir = mkdtempSync(path.join(tmpdir(), "chat-slow-ffprobe-"));
      cleanups.push(() => removeDir(dir));
      const marker = path.join(dir, "started");
      const slow = path.join(dir, "ffprobe");
      writeFileSync(slow, `#!/bin/sh\ntouch ${marker}\nsleep 20\nexec ffprobe "$@"\n`);
      chmodSync(slow, 0o755);
      const locks = { MEDIA_LOCK_MS: "2000", MEDIA_STALLED_INTERVAL_MS: "1000", MEDIA_RETRY_BASE_MS: "100" };
      cluster = await startCluster("media-kill", { apis: 1, workers: 1, env: locks });
      const base = cluster.apis[0]?.base ?? "";
      const env = { ...cluster.env, PUBLIC_URL: base };
      const doomed = startWorkerProcess({ ...env, FFPROBE_PATH: slow }, "media");
      const alice = new Client(base, token("k-alice"));
      const media = await upload(alice, video(dir, 1), "video/mp4");
      await waitFor(() => existsSync(marker), 15_000, "the job started in the doomed worker");
      await doomed.stop("SIGKILL");
      expect(await statusOf(alice, media.id)).toBe("processing");
      cluster.workers.push(startWorkerProcess(env, "media"));
      await waitFor(
        async () => (await statusOf(alice, media.id)) === "ready",
        20_000,
        "taken over and finished",
      );
    },
  );
  if (!HAS_FFMPEG) it.skip("worker killed mid-job (skipped: ffmpeg/ffprobe are not installed)", () => {});

  it("with MEDIA_STORAGE=s3 (s3rver): upload, confirm, thumbnail and download go through the bucket", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "chat-s3rver-e2e-"));
    const port = await freePort();
    const s3 = new S3rver({
      port,
      address: "127.0.0.1",
      silent: true,
      directory: dir,
      configureBuckets: [{ name: "media", configs: [] }],
    });
    await s3.run();
    cleanups.push(async () => {
      await s3.close();
      removeDir(dir);
    });
    const s3env = {
      MEDIA_STORAGE: "s3",
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_REGION: "us-east-1",
      S3_BUCKET: "media",
      S3_ACCESS_KEY_ID: "S3RVER",
      S3_SECRET_ACCESS_KEY: "S3RVER",
      S3_FORCE_PATH_STYLE: "true",
    };
    cluster = await startCluster("media-s3", { apis: 1, workers: 1, env: s3env });
    cluster.workers.push(startWorkerProcess(cluster.env, "media"));
    const base = cluster.apis[0]?.base ?? "";
    const alice = new Client(base, token("s-alice"));
    const media = await upload(alice, await jpeg(800, 600), "image/jpeg");
    expect(media.url?.startsWith(`http://127.0.0.1:${port}/media/ob-`)).toBe(true);
    await waitFor(async () => (await statusOf(alice, media.id)) === "ready", 20_000, "ready");
    const ready = (await alice.call<{ media: Media }>("GET", `/media/${media.id}`)).body.media;
    const thumb = await fetch(ready.thumbnail_url ?? "");
    expect(thumb.status).toBe(200);
    expect((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).width).toBe(320);
    const original = await fetch(ready.url ?? "");
    expect(original.status).toBe(200);
    expect(original.headers.get("content-type")).toBe("image/jpeg");
    // Local media routes are not mounted in s3 mode.
    expect((await fetch(`${base}/media/files/x`)).status).toBe(404);
  });

  it("media messages go over both socket transports", async () => {
    cluster = await startCluster("media-socket", { apis: 1, workers: 1 });
    const base = cluster.apis[0]?.base ?? "";
    const alice = new Client(base, token("t-alice"));
    const room = await alice.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "group",
      name: "g",
      member_ids: ["t-bob"],
    });
    for (const transport of TRANSPORTS) {
      const media = await upload(alice, await jpeg(40, 40), "image/jpeg");
      const socket = await connect(base, token("t-alice"), transport);
      cleanups.push(() => void socket.close());
      const ack = await socket.emitWithAck("message:send", {
        room_id: room.body.room.id,
        client_id: `sock-${transport}`,
        type: "image",
        media_id: media.id,
        text: "caption",
      });
      expect(ack, transport).toMatchObject({
        ok: true,
        message: { type: "image", text: "caption", media: { id: media.id } },
      });
      const bad = await socket.emitWithAck("message:send", {
        room_id: room.body.room.id,
        client_id: `sock-bad-${transport}`,
        type: "image",
      });
      expect(bad, transport).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    }
  });
});
