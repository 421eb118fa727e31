import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { MediaJobs, mediaQueue } from "../../src/media/media.queue.ts";
import { type GroupCommitOptions, PersistJobs, persistQueue } from "../../src/messages/persist.queue.ts";
import { JobProducer } from "../../src/queues/queue.ts";
import type { Keys } from "../../src/redis/redis.ts";

/**
 * A queue's producer on its own connection, as a process's platform holds it, with the queue
 * at hand for assertions and a close that flushes what is gathering first.
 */
type Owned<T> = T & { queue: Queue; close(): Promise<void> };

export function persistJobs(conn: Redis, keys: Keys, opts: GroupCommitOptions): Owned<PersistJobs> {
  const jobs = new JobProducer(persistQueue, conn, keys);
  const persist = new PersistJobs(jobs, opts);
  return Object.assign(persist, {
    queue: jobs.queue,
    close: async () => {
      await persist.drain();
      await jobs.close();
    },
  });
}

export function mediaJobs(conn: Redis, keys: Keys): Owned<MediaJobs> {
  const jobs = new JobProducer(mediaQueue, conn, keys);
  return Object.assign(new MediaJobs(jobs), { queue: jobs.queue, close: () => jobs.close() });
}
