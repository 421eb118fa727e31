import { z } from "zod";
import { idSchema } from "../kernel/ids.ts";
import { type JobProducer, type QueueDefinition, RETRIED_FOR_EVER } from "../queues/queue.ts";

const mediaJob = z.strictObject({ media_id: idSchema });

/**
 * The media queue, worked by the `media` pool: thumbnails and metadata of a confirmed upload,
 * removal of a deleted media's objects, the clean-up of an upload never confirmed, and a
 * periodic sweep of temporary files that killed processes left behind. A bad
 * file ends its media `failed` without an error; only transient failures (storage or store
 * away) throw, and those are retried for ever with the pool's capped backoff.
 */
export const mediaQueue = {
  name: "media",
  jobs: {
    "process-media": mediaJob,
    "delete-media": mediaJob,
    "expire-upload": mediaJob,
    "sweep-temporary": z.strictObject({}),
  },
  jobOptions: RETRIED_FOR_EVER,
} satisfies QueueDefinition<Record<string, z.ZodType>>;

/** What the API asks of the media pool; job ids per media make every add idempotent. */
export class MediaJobs {
  readonly #jobs: JobProducer<typeof mediaQueue.jobs>;
  constructor(jobs: JobProducer<typeof mediaQueue.jobs>) {
    this.#jobs = jobs;
  }

  process(mediaId: string): Promise<void> {
    return this.#jobs.add("process-media", { media_id: mediaId }, `process-${mediaId}`);
  }

  delete(mediaId: string): Promise<void> {
    return this.#jobs.add("delete-media", { media_id: mediaId }, `delete-${mediaId}`);
  }

  /** Runs once the upload URL has expired: an upload never confirmed by then is removed. */
  expireUpload(mediaId: string, delayMs: number): Promise<void> {
    return this.#jobs.add("expire-upload", { media_id: mediaId }, `expire-${mediaId}`, {
      delay: delayMs,
    });
  }
}
