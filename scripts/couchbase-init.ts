import { loadConfigOrExit } from "../src/config/config.ts";
import { createLogger } from "../src/observability/logger.ts";
import { connectCouchbase } from "../src/store/couchbase/couchbase.connection.ts";
import { initCouchbase } from "../src/store/couchbase/couchbase.init.ts";
import { COLLECTIONS, INDEXES } from "../src/store/couchbase/couchbase.layout.ts";
import { couchbaseSettings } from "../src/store/store.factory.ts";

// Usage: npm run couchbase:init
// Creates the scope, its collections and the SQL++ indexes of the Couchbase store in the
// bucket COUCHBASE_BUCKET (the bucket itself is the cluster admin's: docker-compose's init
// service creates it). Idempotent, so it can run on every deploy.
const config = loadConfigOrExit();
const settings = couchbaseSettings(config);
const say = (line: string) => process.stdout.write(`${line}\n`);
try {
  const cb = await connectCouchbase(settings, createLogger("warn", "couchbase-init"));
  await initCouchbase(cb, say);
  await cb.cluster.close();
  say(
    `couchbase: ${settings.bucket}.${settings.scope} ready (${COLLECTIONS.length} collections, ${INDEXES.length} indexes)`,
  );
} catch (err) {
  process.stderr.write(`couchbase:init failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
