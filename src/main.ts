import { startApi } from "./api.ts";
import { loadConfigOrExit } from "./config/config.ts";
import { onShutdown } from "./shutdown.ts";

const config = loadConfigOrExit();
const api = await startApi(config);
onShutdown(api.logger, config.SHUTDOWN_TIMEOUT_MS, () => api.close());
