import type { Config } from "../config/config.ts";
import type { Logger } from "../observability/logger.ts";
import { SqliteStore } from "./sqlite/sqlite.store.ts";
import type { Store } from "./store.ts";

export function createStore(config: Config, logger: Logger): Store {
  switch (config.STORE) {
    case "sqlite":
      return new SqliteStore(config.sqliteFile, { lockWaitMs: config.SQLITE_BUSY_TIMEOUT_MS, logger });
    case "couchbase":
      // Refused earlier by loadConfig; kept exhaustive for when the adapter lands.
      throw new Error("STORE=couchbase is not available yet");
  }
}
