import { tmpdir } from "node:os";
import path from "node:path";
import type { Config } from "../src/config/config.ts";
import { mediaQueue } from "../src/media/media.queue.ts";
import { MediaViews } from "../src/media/media.views.ts";
import { MediaJobsUseCase } from "../src/media/process-media.usecase.ts";
import { AvProcessor } from "../src/media/processing/av.processor.ts";
import { Ffmpeg } from "../src/media/processing/ffmpeg.ts";
import { ImageProcessor } from "../src/media/processing/image.processor.ts";
import { createMediaStorage } from "../src/media-storage/storage.factory.ts";
import { BacklogGauge } from "../src/messages/backlog.gauge.ts";
import { MediaUpdates } from "../src/messages/media-updates.ts";
import { MessageReader } from "../src/messages/message.reader.ts";
import { MessageOpsRepository } from "../src/messages/ops.repository.ts";
import { PendingRepository } from "../src/messages/pending.repository.ts";
import { PersistProducer } from "../src/messages/persist.queue.ts";
import { RoomCounters } from "../src/messages/room-counters.repository.ts";
import { workerEvents } from "../src/messages/worker.events.ts";
import type { Logger } from "../src/observability/logger.ts";
import { createRedis, Keys } from "../src/redis/redis.ts";
import { RedisErrorLog } from "../src/redis/redis-errors.ts";
import { createStore } from "../src/store/store.factory.ts";
import { type RunningPool, startPool } from "./pool.ts";

/**
 * The media pool: thumbnails and metadata (sharp for images, ffmpeg/ffprobe for video and
 * audio), removal of deleted media, clean-up of uploads never confirmed.
 */
export async function startMediaPool(config: Config, logger: Logger): Promise<RunningPool> {
  const keys = new Keys(config.REDIS_PREFIX);
  const redis = createRedis(config.redis, "worker", "chat-media");
  const redisErrors = new RedisErrorLog(logger, config.redis);
  redisErrors.watch({ redis });
  const broadcast = workerEvents(config.redis, redis, keys.socketKey);
  const store = await createStore(config, logger);
  const { storage } = createMediaStorage(config);
  const views = new MediaViews(store, storage, config.MEDIA_URL_TTL_S);
  const pending = new PendingRepository(redis, keys, config.IDEMPOTENCY_TTL_S);
  const counters = new RoomCounters(redis, keys, store);
  const persist = new PersistProducer(redis, keys, {
    maxDelayMs: config.PERSIST_BATCH_MS,
    maxMessages: config.PERSIST_BATCH_MAX,
    minIntervalMs: config.PERSIST_JOB_INTERVAL_MS,
  });
  redisErrors.watch({ persistQueue: persist.queue });
  const useCase = new MediaJobsUseCase({
    store,
    storage,
    image: new ImageProcessor(config.MEDIA_MAX_PIXELS, config.MEDIA_IMAGE_TIMEOUT_S),
    av: new AvProcessor(
      new Ffmpeg({
        ffmpegPath: config.FFMPEG_PATH,
        ffprobePath: config.FFPROBE_PATH,
        timeoutMs: config.MEDIA_FFMPEG_TIMEOUT_MS,
      }),
      config.MEDIA_MAX_PIXELS,
    ),
    updates: new MediaUpdates({
      store,
      reader: new MessageReader(store, pending, views),
      ops: new MessageOpsRepository(
        redis,
        keys,
        counters,
        new BacklogGauge(redis, keys, {
          maxMessages: config.PENDING_MAX_MESSAGES,
          maxBytes: config.PENDING_MAX_BYTES,
        }),
      ),
      persist,
      views,
      events: broadcast.events,
    }),
    // Beside local media, so the pool's working copy is a hard link rather than a copy.
    tmpDir: config.MEDIA_STORAGE === "local" ? path.join(config.DATA_DIR, "media") : tmpdir(),
    logger,
  });

  return startPool(
    {
      pool: "media",
      queue: mediaQueue,
      handlers: {
        "process-media": ({ media_id }) => useCase.process(media_id),
        "delete-media": ({ media_id }) => useCase.delete(media_id),
        "expire-upload": ({ media_id }) => useCase.expireUpload(media_id),
        // Temporary files older than any upload or job can run: what a killed process left.
        "sweep-temporary": async () => ({
          removed: await storage.sweep(Math.max(3_600_000, 2 * config.MEDIA_UPLOAD_URL_TTL_S * 1000)),
        }),
      },
      schedulers: [{ id: "media-sweep-temporary", everyMs: 600_000, job: "sweep-temporary" }],
      onClose: async () => {
        await persist.close();
        await broadcast.close();
        await redis.quit().catch(() => {});
        await store.close();
      },
    },
    config,
    logger,
    redisErrors,
  );
}
