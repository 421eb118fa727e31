import type { Config } from "../src/config/config.ts";
import type { Logger } from "../src/observability/logger.ts";

export type RunningPool = { close(): Promise<void> };
export type PoolStarter = (config: Config, logger: Logger) => Promise<RunningPool>;

/** Every pool API.md names; the ones not built yet say so instead of pretending to run. */
export const POOLS = ["persist", "media", "fanout", "notify"] as const;
export type PoolName = (typeof POOLS)[number];
