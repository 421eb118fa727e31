import { setTimeout as sleep } from "node:timers/promises";
import couchbase from "couchbase";
import type { Couchbase } from "./couchbase.connection.ts";
import { isKeyspaceMissing } from "./couchbase.errors.ts";
import { COLLECTIONS, INDEXES } from "./couchbase.layout.ts";

/**
 * Creates the scope, its collections and the SQL++ indexes (what exists is left as it is, so
 * it runs on every deploy). `primaryIndexes` adds a primary index per collection: only the
 * contract suite wants one (to empty the collections between tests).
 */
export async function initCouchbase(
  cb: Couchbase,
  say: (line: string) => void,
  options: { primaryIndexes?: boolean } = {},
): Promise<void> {
  const manager = cb.bucket.collections();
  try {
    await manager.createScope(cb.scope.name);
    say(`scope ${cb.scope.name}: created`);
  } catch (err) {
    if (!(err instanceof couchbase.ScopeExistsError)) throw err;
  }
  for (const name of COLLECTIONS) {
    try {
      await manager.createCollection(name, cb.scope.name);
      say(`collection ${name}: created`);
    } catch (err) {
      if (!(err instanceof couchbase.CollectionExistsError)) throw err;
    }
  }
  // Collections reach every node a moment after they are created.
  for (let i = 0; ; i++) {
    const missing = await cb.missingCollections();
    if (missing.length === 0) break;
    if (i >= 60) throw new Error(`collections still missing after 30 s: ${missing.join(", ")}`);
    await sleep(500);
  }
  const statements = [
    ...INDEXES,
    ...(options.primaryIndexes
      ? COLLECTIONS.map((c) => ({ name: `${c}_primary`, statement: `CREATE PRIMARY INDEX ON ${c}` }))
      : []),
  ];
  for (const index of statements) {
    for (let attempt = 0; ; attempt++) {
      try {
        await cb.scope.query(index.statement, { timeout: 120_000 });
        say(`index ${index.name}: created`);
        break;
      } catch (err) {
        if (err instanceof couchbase.IndexExistsError) break;
        // The query service learns of new collections a moment after the cluster manager does.
        if (!isKeyspaceMissing(err) || attempt >= 60) throw err;
        await sleep(500);
      }
    }
  }
}
