import { tmpdir } from "node:os";
import path from "node:path";
import type { Router } from "express";
import type { Platform } from "../platform/platform.ts";
import { localFilesRoutes } from "./local-files.routes.ts";
import { MediaJobs, mediaQueue } from "./media.queue.ts";
import { mediaRoutes } from "./media.routes.ts";
import { type DeletedMediaUsers, MediaService, type MessageVisibility } from "./media.service.ts";
import { MediaViews } from "./media.views.ts";
import { type MediaAnnouncer, MediaJobsUseCase } from "./process-media.usecase.ts";
import { AvProcessor } from "./processing/av.processor.ts";
import { Ffmpeg } from "./processing/ffmpeg.ts";
import { ImageProcessor } from "./processing/image.processor.ts";

/**
 * Media: uploads (presigned URLs, confirm, delete), their views with signed URLs, and the media
 * pool's processing. What media asks of the features above it comes in as ports: who may see a
 * message (messages), who uses a deleted media as an avatar (groups).
 */
export function mediaModule(
  p: Platform,
  deps: { visibility: MessageVisibility; avatars?: DeletedMediaUsers },
) {
  const c = p.config;
  const { storage } = p.media;
  const views = new MediaViews(p.store, storage, c.MEDIA_URL_TTL_S);
  const jobs = new MediaJobs(p.jobs(mediaQueue));
  const service = new MediaService({
    store: p.store,
    storage,
    jobs,
    views,
    reader: deps.visibility,
    limits: p.limits,
    ...(deps.avatars ? { avatars: deps.avatars } : {}),
    config: {
      maxBytes: {
        image: c.MEDIA_MAX_IMAGE_BYTES,
        video: c.MEDIA_MAX_VIDEO_BYTES,
        audio: c.MEDIA_MAX_AUDIO_BYTES,
        file: c.MEDIA_MAX_FILE_BYTES,
      },
      uploadTtlS: c.MEDIA_UPLOAD_URL_TTL_S,
      pendingMaxBytes: c.MEDIA_PENDING_MAX_BYTES,
    },
  });
  return {
    views,
    service,
    routes: () => [mediaRoutes(service)],
    /**
     * The embedded storage's signed upload and download URLs (none with S3/R2), and what cuts
     * the uploads in flight at shutdown (before the server waits for its requests to end).
     */
    fileRoutes(): { routes: Router[]; abortUploads(): void } {
      const { local, signer } = p.media;
      if (!local || !signer) return { routes: [], abortUploads: () => {} };
      const files = localFilesRoutes(local, signer);
      return { routes: [files.router], abortUploads: files.abortUploads };
    },
    /** The media pool's jobs; `updates` announces each change (the messages feature's MediaUpdates). */
    mediaJobs(updates: MediaAnnouncer) {
      const useCase = new MediaJobsUseCase({
        store: p.store,
        storage,
        image: new ImageProcessor(c.MEDIA_MAX_PIXELS, c.MEDIA_IMAGE_TIMEOUT_S),
        av: new AvProcessor(
          new Ffmpeg({
            ffmpegPath: c.FFMPEG_PATH,
            ffprobePath: c.FFPROBE_PATH,
            timeoutMs: c.MEDIA_FFMPEG_TIMEOUT_MS,
          }),
          c.MEDIA_MAX_PIXELS,
        ),
        updates,
        // Beside local media, so the pool's working copy is a hard link rather than a copy.
        tmpDir: c.MEDIA_STORAGE === "local" ? path.join(c.DATA_DIR, "media") : tmpdir(),
        logger: p.logger,
      });
      return {
        "process-media": ({ media_id }: { media_id: string }) => useCase.process(media_id),
        "delete-media": ({ media_id }: { media_id: string }) => useCase.delete(media_id),
        "expire-upload": ({ media_id }: { media_id: string }) => useCase.expireUpload(media_id),
        // Temporary files older than any upload or job can run: what a killed process left.
        "sweep-temporary": async () => ({
          removed: await storage.sweep(Math.max(3_600_000, 2 * c.MEDIA_UPLOAD_URL_TTL_S * 1000)),
        }),
      };
    },
  };
}
