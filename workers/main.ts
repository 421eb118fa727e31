import { z } from "zod";
import { onShutdown } from "../src/app/shutdown.ts";
import { exitOnStartFailure } from "../src/app/start-failure.ts";
import { type Config, loadConfigOrExit } from "../src/config/config.ts";
import { createLogger, type Logger } from "../src/observability/logger.ts";
import { POOLS, type PoolName } from "../src/queues/pools.ts";
import { startFanoutPool } from "./fanout.worker.ts";
import { startMediaPool } from "./media.worker.ts";
import { startNotifyPool } from "./notify.worker.ts";
import { startPersistPool } from "./persist.worker.ts";
import type { RunningPool } from "./pool.ts";

// Usage: npm run start:worker -- <pool>
type PoolStarter = (config: Config, logger: Logger) => Promise<RunningPool>;
const starters: Partial<Record<PoolName, PoolStarter>> = {
  persist: startPersistPool,
  media: startMediaPool,
  fanout: startFanoutPool,
  notify: startNotifyPool,
};

const pool = z.enum(POOLS).safeParse(process.argv[2]);
if (!pool.success) {
  process.stderr.write(`usage: npm run start:worker -- <${POOLS.join("|")}>\n`);
  process.exit(2);
}
const start = starters[pool.data];
if (!start) {
  process.stderr.write(
    `the ${pool.data} pool is not built yet; available: ${Object.keys(starters).join(", ")}\n`,
  );
  process.exit(2);
}
const config = loadConfigOrExit();
const logger = createLogger(config.LOG_LEVEL, `worker:${pool.data}`);
const running = await start(config, logger).catch(exitOnStartFailure(`worker:${pool.data}`));
// PM2 (wait_ready) counts the process as up only once it works its queue.
process.send?.("ready");
onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS, () => running.close());
