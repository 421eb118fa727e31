import { runStoreContract } from "../contract/store.contract.ts";
import { makeFakeCouchbaseStore } from "../helpers/fake-couchbase.ts";

/**
 * The store contract against the Couchbase adapter over an in-memory fake of the SDK (KV with
 * CAS, and a JavaScript twin of each SQL++ statement), so the adapter's logic is checked on
 * every run; couchbase.store.test.ts runs the same contract against a real cluster when one is set.
 */
runStoreContract("couchbase (in-memory fake of the SDK)", async () => makeFakeCouchbaseStore().store);
