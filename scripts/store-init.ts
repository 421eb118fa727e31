import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfigOrExit } from "../src/config/config.ts";
import { openSqliteStore } from "../src/store/sqlite/sqlite.store.ts";

// Usage: npm run store:init [-- --force]
// Creates (or migrates) the embedded database. A data dir whose database went missing is
// refused by every process (so none starts empty and drops what the old file held); --force
// is the explicit decision to start over with an empty one.
const { values } = parseArgs({ options: { force: { type: "boolean", default: false } } });
const config = loadConfigOrExit();
if (config.STORE !== "sqlite") {
  process.stderr.write(`STORE=${config.STORE}: nothing to initialise here\n`);
  process.exit(2);
}
const existed = existsSync(config.sqliteFile);
try {
  const store = openSqliteStore(config.sqliteFile, { forceCreate: values.force });
  await store.close();
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
process.stdout.write(`${existed ? "migrated" : "created"} ${config.sqliteFile}\n`);
