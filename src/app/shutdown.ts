import type { Logger } from "../observability/logger.ts";

/**
 * SIGINT/SIGTERM run `close` once (finish in-flight work, release connections) and exit 0;
 * past the timeout the process exits 1 rather than hang a deploy.
 */
export function onShutdown(logger: Logger, timeoutMs: number, close: () => Promise<void>): void {
  let started = false;
  const handler = (signal: NodeJS.Signals) => {
    if (started) return;
    started = true;
    logger.info({ signal }, "shutting down");
    setTimeout(() => {
      logger.error("shutdown timed out");
      process.exit(1);
    }, timeoutMs).unref();
    close().then(
      () => {
        logger.info("stopped");
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
}
