import { startApi } from "./api.ts";
import { onShutdown } from "./app/shutdown.ts";
import { exitOnStartFailure } from "./app/start-failure.ts";
import { loadConfigOrExit } from "./config/config.ts";

const config = loadConfigOrExit();
const api = await startApi(config).catch(exitOnStartFailure("api"));
// PM2 (wait_ready) counts the process as up only once it serves.
process.send?.("ready");
onShutdown(api.logger, config.SHUTDOWN_TIMEOUT_MS, () => api.close());
