import type { FanoutJobs } from "../fanout/fanout.queue.ts";
import type { Logger } from "../observability/logger.ts";
import type { MembershipCache } from "./membership.cache.ts";

/** How long the backup invalidation waits: well past the direct one, which usually wins. */
const BACKUP_DELAY_MS = 2_000;

/**
 * Runs a membership change so the cached member set cannot stay stale: a delayed
 * `membership-invalidate` job is stored before the store commit, then the cache is
 * invalidated directly. If the direct invalidation fails (Redis blinked) or the process dies
 * after the commit, the job does it. If the job cannot be stored, nothing is committed and the
 * caller gets the error (503). Invalidating twice is harmless.
 */
export class MembershipChange {
  readonly #jobs: Pick<FanoutJobs, "invalidateMembership">;
  readonly #cache: MembershipCache;
  readonly #logger: Logger;

  constructor(jobs: Pick<FanoutJobs, "invalidateMembership">, cache: MembershipCache, logger: Logger) {
    this.#jobs = jobs;
    this.#cache = cache;
    this.#logger = logger;
  }

  async run<T>(roomId: string, commit: () => Promise<T>): Promise<T> {
    await this.#jobs.invalidateMembership(roomId, BACKUP_DELAY_MS);
    const result = await commit();
    try {
      await this.#cache.invalidate(roomId);
    } catch (err) {
      this.#logger.warn(
        { room_id: roomId, err: err instanceof Error ? err.message : String(err) },
        "membership cache invalidation failed; the queued job will redo it",
      );
    }
    return result;
  }
}
