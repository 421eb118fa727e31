import { z } from "zod";

/** Every worker pool (docs/api.md "Running"); each owns one queue and scales on its own. */
export const POOLS = ["persist", "media", "fanout", "notify"] as const;
export type PoolName = (typeof POOLS)[number];

export type PoolConfig = {
  /** Jobs one process works at once. */
  concurrency: number;
  /** A job's lock; a killed worker's job returns after at most lock + stalled interval. */
  lockMs: number;
  stalledIntervalMs: number;
  /** Retry delay: doubles from the base after each failed attempt, up to the cap, for ever. */
  retryBaseMs: number;
  retryMaxMs: number;
};

const DEFAULTS: Record<PoolName, PoolConfig> = {
  persist: { concurrency: 4, lockMs: 8_000, stalledIntervalMs: 4_000, retryBaseMs: 200, retryMaxMs: 30_000 },
  media: {
    concurrency: 2,
    lockMs: 60_000,
    stalledIntervalMs: 30_000,
    retryBaseMs: 1_000,
    retryMaxMs: 60_000,
  },
  fanout: { concurrency: 8, lockMs: 30_000, stalledIntervalMs: 15_000, retryBaseMs: 500, retryMaxMs: 30_000 },
  notify: {
    concurrency: 16,
    lockMs: 30_000,
    stalledIntervalMs: 15_000,
    retryBaseMs: 1_000,
    retryMaxMs: 60_000,
  },
};

const int = (def: number, min: number) => z.coerce.number().int().min(min).default(def);

const SETTINGS = ["CONCURRENCY", "LOCK_MS", "STALLED_INTERVAL_MS", "RETRY_BASE_MS", "RETRY_MAX_MS"] as const;

/** The environment variables of every pool's settings (PERSIST_CONCURRENCY, ...). */
export function poolKeys(): string[] {
  return POOLS.flatMap((pool) => SETTINGS.map((s) => `${pool.toUpperCase()}_${s}`));
}

/**
 * Per-pool settings from `<POOL>_CONCURRENCY`, `<POOL>_LOCK_MS`, `<POOL>_STALLED_INTERVAL_MS`,
 * `<POOL>_RETRY_BASE_MS` and `<POOL>_RETRY_MAX_MS` (e.g. PERSIST_CONCURRENCY): one schema for
 * every pool, defaults per pool.
 */
export function parsePools(source: NodeJS.ProcessEnv): {
  pools: Record<PoolName, PoolConfig>;
  problems: string[];
} {
  const problems: string[] = [];
  const pools = {} as Record<PoolName, PoolConfig>;
  for (const pool of POOLS) {
    const d = DEFAULTS[pool];
    const p = pool.toUpperCase();
    const schema = z.object({
      [`${p}_CONCURRENCY`]: int(d.concurrency, 1),
      [`${p}_LOCK_MS`]: int(d.lockMs, 1000),
      [`${p}_STALLED_INTERVAL_MS`]: int(d.stalledIntervalMs, 500),
      [`${p}_RETRY_BASE_MS`]: int(d.retryBaseMs, 1),
      [`${p}_RETRY_MAX_MS`]: int(d.retryMaxMs, 1),
    });
    const parsed = schema.safeParse(source);
    if (!parsed.success) {
      for (const i of parsed.error.issues) problems.push(`${i.path.join(".")}: ${i.message}`);
      pools[pool] = d;
      continue;
    }
    const v = parsed.data as Record<string, number>;
    pools[pool] = {
      concurrency: v[`${p}_CONCURRENCY`] ?? d.concurrency,
      lockMs: v[`${p}_LOCK_MS`] ?? d.lockMs,
      stalledIntervalMs: v[`${p}_STALLED_INTERVAL_MS`] ?? d.stalledIntervalMs,
      retryBaseMs: v[`${p}_RETRY_BASE_MS`] ?? d.retryBaseMs,
      retryMaxMs: v[`${p}_RETRY_MAX_MS`] ?? d.retryMaxMs,
    };
    if (pools[pool].retryMaxMs < pools[pool].retryBaseMs)
      problems.push(`${p}_RETRY_MAX_MS: below ${p}_RETRY_BASE_MS`);
  }
  return { pools, problems };
}
