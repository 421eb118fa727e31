import type { Config } from "../config/config.ts";
import type { Logger } from "../observability/logger.ts";
import { connectCouchbase } from "./couchbase/couchbase.connection.ts";
import { openSqliteStore } from "./sqlite/sqlite.store.ts";
import type { Store } from "./store.ts";

/** The configured store, connected (Couchbase fails fast when its cluster is unreachable or not set up). */
export async function createStore(config: Config, logger: Logger): Promise<Store> {
  switch (config.STORE) {
    case "sqlite":
      return openSqliteStore(config.sqliteFile, { lockWaitMs: config.SQLITE_BUSY_TIMEOUT_MS, logger });
    case "couchbase": {
      const cb = await connectCouchbase(couchbaseSettings(config), logger);
      const missing = await cb.missingCollections();
      if (missing.length > 0) {
        await cb.cluster.close();
        throw new Error(
          `Couchbase scope ${config.COUCHBASE_SCOPE} lacks collections ${missing.join(", ")}: run \`npm run couchbase:init\``,
        );
      }
      return cb.store();
    }
  }
}

export function couchbaseSettings(config: Config) {
  return {
    connStr: config.COUCHBASE_CONNSTR ?? "",
    username: config.COUCHBASE_USERNAME ?? "",
    password: config.COUCHBASE_PASSWORD ?? "",
    bucket: config.COUCHBASE_BUCKET,
    scope: config.COUCHBASE_SCOPE,
    bootstrapTimeoutMs: config.COUCHBASE_BOOTSTRAP_TIMEOUT_MS,
    kvTimeoutMs: config.COUCHBASE_KV_TIMEOUT_MS,
    queryTimeoutMs: config.COUCHBASE_QUERY_TIMEOUT_MS,
  };
}
