import { QueryScanConsistency } from "couchbase";
import { ulid } from "ulid";
import { afterAll, beforeAll, describe, it } from "vitest";
import { loadConfig } from "../../src/config/config.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { type Couchbase, connectCouchbase } from "../../src/store/couchbase/couchbase.connection.ts";
import { initCouchbase } from "../../src/store/couchbase/couchbase.init.ts";
import { COLLECTIONS } from "../../src/store/couchbase/couchbase.layout.ts";
import { createCouchbaseStore } from "../../src/store/couchbase/couchbase.store.ts";
import { couchbaseSettings } from "../../src/store/store.factory.ts";
import { runStoreContract } from "../contract/store.contract.ts";

/**
 * The store contract against a real Couchbase cluster, when one is named by COUCHBASE_CONNSTR
 * (+ COUCHBASE_USERNAME, COUCHBASE_PASSWORD, COUCHBASE_BUCKET). Each run works in a scope of
 * its own (created, then dropped) and empties its collections before every test.
 */
const REAL = Boolean(process.env.COUCHBASE_CONNSTR);

if (!REAL) {
  describe("couchbase (real cluster)", () => {
    it.skip("skipped: no Couchbase (set COUCHBASE_CONNSTR, COUCHBASE_USERNAME, COUCHBASE_PASSWORD, COUCHBASE_BUCKET)", () => {});
  });
  process.stdout.write(
    "couchbase.store.test.ts: skipped: no Couchbase (set COUCHBASE_CONNSTR, COUCHBASE_USERNAME, COUCHBASE_PASSWORD, COUCHBASE_BUCKET to run the store contract against it)\n",
  );
} else {
  const config = loadConfig({
    ...process.env,
    STORE: "couchbase",
    COUCHBASE_SCOPE: `test_${ulid().toLowerCase()}`,
  });
  let cb: Couchbase;
  beforeAll(async () => {
    cb = await connectCouchbase(couchbaseSettings(config), createLogger("warn", "couchbase-test"));
    await initCouchbase(cb, () => {}, { primaryIndexes: true });
  }, 300_000);
  afterAll(async () => {
    await cb?.bucket.collections().dropScope(config.COUCHBASE_SCOPE);
    await cb?.cluster.close();
  });
  runStoreContract("couchbase (real cluster)", async () => {
    await Promise.all(
      COLLECTIONS.map((c) =>
        cb.scope.query(`DELETE FROM ${c}`, { scanConsistency: QueryScanConsistency.RequestPlus }),
      ),
    );
    // The store shares the test's connection: closing it must not close the cluster.
    return createCouchbaseStore(
      { collection: (name) => cb.scope.collection(name), scope: cb.scope },
      { ping: () => cb.ping(), close: async () => {} },
    );
  });
}
