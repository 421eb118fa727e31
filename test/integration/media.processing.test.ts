import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";
import { newId } from "../../src/kernel/ids.ts";
import { MediaJobsUseCase } from "../../src/media/process-media.usecase.ts";
import { AvProcessor } from "../../src/media/processing/av.processor.ts";
import { Ffmpeg } from "../../src/media/processing/ffmpeg.ts";
import { ImageProcessor } from "../../src/media/processing/image.processor.ts";
import { MediaRejectedError } from "../../src/media/processing/media-rejected.ts";
import { LocalMediaStorage } from "../../src/media-storage/local.storage.ts";
import { type MediaStorage, newObjectKeys } from "../../src/media-storage/media-storage.ts";
import { UrlSigner } from "../../src/media-storage/url-signer.ts";
import type { MediaUpdates } from "../../src/messages/media-updates.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import type { MediaKind, MediaRecord } from "../../src/store/store.ts";
import { media as mediaRecord } from "../contract/fixtures.ts";
import { removeDir } from "../helpers/env.ts";
import { audio, garbage, HAS_FFMPEG, jpeg, video } from "../helpers/media-files.ts";

const dir = mkdtempSync(path.join(tmpdir(), "chat-media-proc-"));
afterAll(() => removeDir(dir));
const images = new ImageProcessor(50_000_000);
const av = new AvProcessor(
  new Ffmpeg({ ffmpegPath: "ffmpeg", ffprobePath: "ffprobe", timeoutMs: 20_000 }),
  50_000_000,
);
const write = (name: string, data: Buffer) => {
  const file = path.join(dir, name);
  writeFileSync(file, data);
  return file;
};
/** RGB of one pixel of a thumbnail. */
async function pixel(image: Buffer, x: number, y: number): Promise<number[]> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return [...data.subarray(at, at + 3)];
}
const isRed = ([r, g, b]: number[]) => (r ?? 0) > 200 && (g ?? 0) < 60 && (b ?? 0) < 60;
const isBlue = ([r, g, b]: number[]) => (r ?? 0) < 60 && (g ?? 0) < 60 && (b ?? 0) > 200;

describe("images with sharp", () => {
  it("an EXIF-rotated JPEG comes out upright, 320 px, with metadata stripped and a placeholder under 1 KB", async () => {
    // Stored 1200x800, red left half; orientation 6 shows it turned a quarter clockwise: red on top.
    const file = write("rotated.jpg", await jpeg(1200, 800, 6));
    const out = await images.process(file);
    expect([out.width, out.height]).toEqual([800, 1200]);
    const thumb = out.thumbnail as Buffer;
    const meta = await sharp(thumb).metadata();
    expect(meta.format).toBe("webp");
    expect([meta.width, meta.height]).toEqual([213, 320]);
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect(isRed(await pixel(thumb, 100, 10))).toBe(true);
    expect(isBlue(await pixel(thumb, 100, 310))).toBe(true);
    expect(out.placeholder).toMatch(/^data:image\/webp;base64,/);
    expect(out.placeholder?.length).toBeLessThanOrEqual(1024);
  });

  it("a small image is not enlarged", async () => {
    const out = await images.process(write("small.jpg", await jpeg(100, 50)));
    expect(await sharp(out.thumbnail as Buffer).metadata()).toMatchObject({ width: 100, height: 50 });
  });

  it("garbage labelled image/jpeg, a truncated JPEG and a decompression bomb are rejected, not thrown as crashes", async () => {
    await expect(images.process(write("garbage.jpg", garbage()))).rejects.toBeInstanceOf(MediaRejectedError);
    const whole = await jpeg(800, 600);
    await expect(
      images.process(write("cut.jpg", whole.subarray(0, whole.length / 2))),
    ).rejects.toBeInstanceOf(MediaRejectedError);
    const tiny = new ImageProcessor(10_000);
    await expect(tiny.process(write("bomb.jpg", await jpeg(200, 200)))).rejects.toThrow(/pixel limit/);
  });
});

describe.skipIf(!HAS_FFMPEG)("video and audio with ffmpeg/ffprobe", () => {
  it("a rotated video: displayed size, duration, an upright poster at 1 s", async () => {
    const out = await av.video(write("rot.mp4", video(dir, 3, { rotate: 90 })));
    expect([out.width, out.height]).toEqual([240, 320]);
    expect(out.duration).toBe(3);
    expect(await sharp(out.thumbnail as Buffer).metadata()).toMatchObject({ width: 240, height: 320 });
    expect(out.placeholder?.length).toBeLessThanOrEqual(1024);
  });

  it("a video whose frames pass the pixel limit is refused before a frame is decoded", async () => {
    const strict = new AvProcessor(
      new Ffmpeg({ ffmpegPath: "ffmpeg", ffprobePath: "ffprobe", timeoutMs: 20_000 }),
      320 * 240 - 1,
    );
    await expect(strict.video(write("big.mp4", video(dir, 1)))).rejects.toThrow(/pixel limit/);
  });

  it("a second, larger video stream cannot slip past the pixel limit", async () => {
    const file = path.join(dir, "two-streams.mp4");
    execFileSync(
      "ffmpeg",
      [
        "-v",
        "error",
        "-nostdin",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=1:size=64x64:rate=5",
        "-f",
        "lavfi",
        "-i",
        "testsrc=duration=1:size=640x640:rate=5",
        "-map",
        "0",
        "-map",
        "1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        file,
      ],
      { stdio: "pipe" },
    );
    const strict = new AvProcessor(
      new Ffmpeg({ ffmpegPath: "ffmpeg", ffprobePath: "ffprobe", timeoutMs: 20_000 }),
      100_000,
    );
    await expect(strict.video(file)).rejects.toThrow(/640x640/);
  });

  it("a clip shorter than a second gets its first frame", async () => {
    const out = await av.video(write("short.mp4", video(dir, 0.4)));
    expect(out.duration).toBeCloseTo(0.4, 1);
    expect(out.thumbnail).not.toBeNull();
  });

  it("audio: its duration and no thumbnail; garbage and a video-less file are rejected", async () => {
    const out = await av.audio(write("tone.m4a", audio(dir, 1.5)));
    expect(out).toMatchObject({ duration: 1.5, thumbnail: null, width: null });
    await expect(av.video(write("garbage.mp4", garbage()))).rejects.toBeInstanceOf(MediaRejectedError);
    await expect(av.video(write("tone-as-video.m4a", audio(dir, 1)))).rejects.toThrow(/no video stream/);
  });

  it("a run past its time limit is killed and rejected", async () => {
    const slow = new AvProcessor(
      new Ffmpeg({ ffmpegPath: "ffmpeg", ffprobePath: "ffprobe", timeoutMs: 1 }),
      50_000_000,
    );
    await expect(slow.video(write("slow.mp4", video(dir, 1)))).rejects.toThrow(/too long/);
  });

  it("ffmpeg missing is not the file's fault: the error is thrown for a retry", async () => {
    const missing = new AvProcessor(
      new Ffmpeg({ ffmpegPath: "/nonexistent/ffmpeg", ffprobePath: "/nonexistent/ffprobe", timeoutMs: 1000 }),
      50_000_000,
    );
    const err = await missing.video(write("any.mp4", video(dir, 1))).catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(MediaRejectedError);
    expect((err as NodeJS.ErrnoException).code).toBe("ENOENT");
  });
});
if (!HAS_FFMPEG) {
  describe("video and audio", () => {
    it.skip("skipped: ffmpeg/ffprobe are not installed (apt-get install --no-install-recommends ffmpeg)", () => {});
  });
}

describe("the media pool's use case", () => {
  const store = openSqliteStore(path.join(dir, "chat.sqlite"));
  const signer = new UrlSigner("x".repeat(32), "http://127.0.0.1:1");
  const local = new LocalMediaStorage(path.join(dir, "media"), signer);
  afterAll(() => store.close());

  async function confirmed(kind: MediaKind, data: Buffer, contentType: string): Promise<MediaRecord> {
    const id = newId();
    const keys = newObjectKeys(id);
    const now = new Date().toISOString();
    const record = mediaRecord({
      id,
      kind,
      status: "processing",
      content_type: contentType,
      size: data.length,
      upload_key: keys.upload,
      object_key: keys.object,
      created_at: now,
      updated_at: now,
    });
    await store.createMedia(record);
    await local.put(keys.object, data, contentType);
    return record;
  }

  /** The local driver with some methods replaced (to inject failures and interleavings). */
  const wrap = (over: Partial<MediaStorage>): MediaStorage => ({
    uploadTarget: (...a) => local.uploadTarget(...a),
    stat: (k) => local.stat(k),
    readHead: (k, n) => local.readHead(k, n),
    placeOnce: (a, b) => local.placeOnce(a, b),
    sweep: (age) => local.sweep(age),
    download: (k, f) => local.download(k, f),
    put: (k, b, t) => local.put(k, b, t),
    delete: (k) => local.delete(k),
    downloadUrl: (k, o) => local.downloadUrl(k, o),
    ...over,
  });

  function useCase(storage: MediaStorage = local) {
    const announced: MediaRecord[] = [];
    const updates = { announce: async (m: MediaRecord) => void announced.push(m) } as unknown as MediaUpdates;
    const uc = new MediaJobsUseCase({
      store,
      storage,
      image: images,
      av,
      updates,
      tmpDir: dir,
      logger: createLogger("silent", "test"),
    });
    return { uc, announced };
  }

  it("a transient storage failure throws (BullMQ retries); the retry finishes the job", async () => {
    const media = await confirmed("image", await jpeg(640, 480), "image/jpeg");
    let failures = 1;
    const flaky = wrap({
      download: async (key, file) => {
        if (failures-- > 0) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
        return local.download(key, file);
      },
    });
    const { uc, announced } = useCase(flaky);
    await expect(uc.process(media.id)).rejects.toThrow(/ECONNREFUSED/);
    expect((await store.getMedia(media.id))?.status).toBe("processing");
    expect(await uc.process(media.id)).toEqual({ status: "ready" });
    const ready = await store.getMedia(media.id);
    expect(ready).toMatchObject({ status: "ready", width: 640, height: 480 });
    expect(await local.stat(ready?.thumb_key ?? "")).not.toBeNull();
    expect(announced.map((m) => m.status)).toEqual(["ready"]);
    // A repeat of the finished job writes nothing new and only announces again.
    expect(await uc.process(media.id)).toEqual({ status: "ready" });
    expect(announced).toHaveLength(2);
  });

  it("a processing media whose file is gone ends failed instead of retrying for ever", async () => {
    const media = await confirmed("image", await jpeg(64, 64), "image/jpeg");
    await local.delete([media.object_key ?? ""]);
    const { uc, announced } = useCase();
    expect(await uc.process(media.id)).toEqual({ status: "failed" });
    expect(await store.getMedia(media.id)).toMatchObject({
      status: "failed",
      failure: "the uploaded file is missing",
    });
    expect(announced).toHaveLength(1);
  });

  it("a bad file ends failed with a reason, its original removed, and the job completes", async () => {
    const media = await confirmed("image", garbage(), "image/jpeg");
    const { uc, announced } = useCase();
    expect(await uc.process(media.id)).toEqual({ status: "failed" });
    const failed = await store.getMedia(media.id);
    expect(failed?.status).toBe("failed");
    expect(failed?.failure).toMatch(/not a readable image/);
    expect(await local.stat(media.object_key ?? "")).toBeNull();
    expect(announced.map((m) => m.status)).toEqual(["failed"]);
  });

  it("a media deleted while it was processed leaves no thumbnail behind", async () => {
    const media = await confirmed("image", await jpeg(300, 300), "image/jpeg");
    const racing = wrap({
      put: async (key, body, type) => {
        await local.put(key, body, type);
        // The uploader deletes it now, and the delete job has already run.
        await store.deleteMedia(media.id, new Date().toISOString());
      },
    });
    const { uc, announced } = useCase(racing);
    expect(await uc.process(media.id)).toEqual({ status: "skipped" });
    expect(announced).toHaveLength(0);
    const files = readdirSync(path.join(dir, "media"));
    expect(files.filter((f) => f.startsWith("th-") && f.includes(media.id))).toEqual([]);
  });

  it("an upload never confirmed is marked failed and removed when its URL has expired", async () => {
    const media = await confirmed("file", Buffer.from("%PDF-1.4"), "application/pdf");
    await store.updateMedia(media.id, ["processing"], { status: "failed", updated_at: media.updated_at });
    const pendingId = newId();
    const keys = newObjectKeys(pendingId);
    await store.createMedia({
      ...media,
      id: pendingId,
      status: "pending",
      upload_key: keys.upload,
      object_key: keys.object,
    });
    await local.put(keys.upload, Buffer.from("half"), "application/pdf");
    const { uc } = useCase();
    await uc.expireUpload(pendingId);
    expect(await store.getMedia(pendingId)).toMatchObject({
      status: "failed",
      failure: "the upload was never confirmed",
    });
    expect(await local.stat(keys.upload)).toBeNull();
  });
});
