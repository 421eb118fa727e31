import type { Redis } from "ioredis";
import { MediaJobs, mediaQueue } from "../../src/media/media.queue.ts";
import { type GroupCommitOptions, PersistJobs, persistQueue } from "../../src/messages/persist.queue.ts";
import { JobProducer } from "../../src/queues/queue.ts";
import type { Keys } from "../../src/redis/redis.ts";

/**
 * A queue's producer on its own connection, as a process's platform holds it, with the queue
 * at hand for assertions and a close that flushes what is gathering first.
 */
function own<T extends object, J extends JobProducer<never>>(
  jobs: J,
  producer: T,
  drain?: () => Promise<void>,
) {
  return Object.assign(producer, {
    queue: jobs.queue,
    close: async () => {
      await drain?.();
      await jobs.close();
    },
  });
}

export function persistJobs(conn: Redis, keys: Keys, opts: GroupCommitOptions) {
  const jobs = new JobProducer(persistQueue, conn, keys);
  const persist = new PersistJobs(jobs, opts);
  return own(jobs as never, persist, () => persist.drain());
}

export function mediaJobs(conn: Redis, keys: Keys) {
  const jobs = new JobProducer(mediaQueue, conn, keys);
  return own(jobs as never, new MediaJobs(jobs));
}
