import { mkdir, mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { type MediaStorage, ObjectMissingError, thumbKeyOf } from "../media-storage/media-storage.ts";
import type { Logger } from "../observability/logger.ts";
import type { MediaKind, MediaRecord, MediaStore } from "../store/store.ts";
import type { AvProcessor } from "./processing/av.processor.ts";
import type { ImageProcessor } from "./processing/image.processor.ts";
import { MediaRejectedError, type Processed } from "./processing/media-rejected.ts";

/**
 * The media pool's work (media.queue.ts). A bad file ends `failed` with a reason; anything
 * else that goes wrong (storage, store, Redis away; ffmpeg missing) throws, and BullMQ
 * retries. Every step is safe to repeat: keys are fixed per media, status changes are
 * compare-and-set, and a repeat of a finished job only announces again.
 */
/** Who hears that a media changed (the messages feature: its uploader and the rooms that carry it). */
export interface MediaAnnouncer {
  announce(media: MediaRecord): Promise<void>;
}

export class MediaJobsUseCase {
  readonly #store: MediaStore;
  readonly #storage: MediaStorage;
  readonly #image: ImageProcessor;
  readonly #av: AvProcessor;
  readonly #updates: MediaAnnouncer;
  readonly #tmpDir: string;
  readonly #logger: Logger;

  constructor(deps: {
    store: MediaStore;
    storage: MediaStorage;
    image: ImageProcessor;
    av: AvProcessor;
    updates: MediaAnnouncer;
    tmpDir: string;
    logger: Logger;
  }) {
    this.#store = deps.store;
    this.#storage = deps.storage;
    this.#image = deps.image;
    this.#av = deps.av;
    this.#updates = deps.updates;
    this.#tmpDir = deps.tmpDir;
    this.#logger = deps.logger;
  }

  async process(mediaId: string): Promise<{ status: string }> {
    const media = await this.#store.getMedia(mediaId);
    if (!media || media.deleted_at || media.status === "pending") return { status: "skipped" };
    if (media.status !== "processing") {
      // A retry after the change was written but not announced: announce again.
      await this.#updates.announce(media);
      return { status: media.status };
    }
    await mkdir(this.#tmpDir, { recursive: true });
    const dir = await mkdtemp(path.join(this.#tmpDir, ".work-"));
    try {
      const file = path.join(dir, "original");
      let result: Processed;
      try {
        await this.#storage.download(media.object_key ?? "", file);
        result = await this.#work(media.kind, file);
      } catch (err) {
        // The object of a processing media is never removed by anyone else: if it is gone, no
        // retry can bring it back.
        if (err instanceof ObjectMissingError) return await this.#fail(media, "the uploaded file is missing");
        if (!(err instanceof MediaRejectedError)) throw err;
        return await this.#fail(media, err.message);
      }
      const thumbKey = result.thumbnail ? thumbKeyOf(media.object_key ?? "") : null;
      if (thumbKey && result.thumbnail) await this.#storage.put(thumbKey, result.thumbnail, "image/webp");
      const ready = await this.#store.updateMedia(media.id, ["processing"], {
        status: "ready",
        thumb_key: thumbKey,
        placeholder: result.placeholder,
        width: result.width,
        height: result.height,
        duration: result.duration,
        updated_at: new Date().toISOString(),
      });
      if (!ready) {
        // Deleted while we worked: the delete job may already have run, so remove what we wrote.
        if (thumbKey) await this.#storage.delete([thumbKey]);
        return { status: "skipped" };
      }
      await this.#updates.announce(ready);
      return { status: "ready" };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Removes a deleted media's objects and tells the rooms that carried it. */
  async delete(mediaId: string): Promise<void> {
    const media = await this.#store.getMedia(mediaId);
    if (!media?.deleted_at) return;
    const keys = [
      media.upload_key,
      ...(media.object_key ? [media.object_key, thumbKeyOf(media.object_key)] : []),
    ];
    await this.#storage.delete(keys);
    await this.#updates.announce(media);
  }

  /** After the upload URL expired: an upload never confirmed is removed and marked failed. */
  async expireUpload(mediaId: string): Promise<void> {
    const media = await this.#store.getMedia(mediaId);
    if (!media) return;
    if (media.status !== "pending") {
      // Confirmed: only a stray second upload to the old URL can be left.
      await this.#storage.delete([media.upload_key]);
      return;
    }
    const failed = await this.#store.updateMedia(media.id, ["pending"], {
      status: "failed",
      failure: "the upload was never confirmed",
      updated_at: new Date().toISOString(),
    });
    if (failed || media.deleted_at)
      await this.#storage.delete([media.upload_key, media.object_key ?? media.upload_key]);
  }

  #work(kind: MediaKind, file: string): Promise<Processed> {
    switch (kind) {
      case "image":
        return this.#image.process(file);
      case "video":
        return this.#av.video(file);
      case "audio":
        return this.#av.audio(file);
      case "file":
        return Promise.resolve({
          width: null,
          height: null,
          duration: null,
          thumbnail: null,
          placeholder: null,
        });
    }
  }

  async #fail(media: MediaRecord, reason: string): Promise<{ status: string }> {
    this.#logger.info({ media_id: media.id, kind: media.kind, reason }, "media failed");
    const failed = await this.#store.updateMedia(media.id, ["processing"], {
      status: "failed",
      failure: reason,
      updated_at: new Date().toISOString(),
    });
    if (!failed) return { status: "skipped" };
    // Nothing may send or download a failed media: its original goes.
    if (media.object_key) await this.#storage.delete([media.object_key]);
    await this.#updates.announce(failed);
    return { status: "failed" };
  }
}
