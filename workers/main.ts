import { z } from "zod";
import { startPoolProcess } from "../src/app/pools.ts";
import { onShutdown } from "../src/app/shutdown.ts";
import { exitOnStartFailure } from "../src/app/start-failure.ts";
import { loadConfigOrExit } from "../src/config/config.ts";
import { createLogger } from "../src/observability/logger.ts";
import { POOLS } from "../src/queues/pools.ts";

// Usage: npm run start:worker -- <pool>
const pool = z.enum(POOLS).safeParse(process.argv[2]);
if (!pool.success) {
  process.stderr.write(`usage: npm run start:worker -- <${POOLS.join("|")}>\n`);
  process.exit(2);
}
const config = loadConfigOrExit();
const logger = createLogger(config.LOG_LEVEL, `worker:${pool.data}`);
const running = await startPoolProcess(pool.data, config, logger).catch(
  exitOnStartFailure(`worker:${pool.data}`),
);
// PM2 (wait_ready) counts the process as up only once it works its queue.
process.send?.("ready");
onShutdown(logger, config.SHUTDOWN_TIMEOUT_MS, () => running.close());
