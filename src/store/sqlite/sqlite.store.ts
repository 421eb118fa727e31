import { composeStore } from "../store.compose.ts";
import type { Store } from "../store.ts";
import { SqliteBlocks } from "./blocks.sqlite.ts";
import { SqliteDb, type SqliteStoreOptions } from "./db.ts";
import { SqliteDevices } from "./devices.sqlite.ts";
import { SqliteMedia } from "./media.sqlite.ts";
import { SqliteMessageState } from "./message-state.sqlite.ts";
import { SqliteMessages } from "./messages.sqlite.ts";
import { SqliteMembers, SqliteRooms } from "./rooms.sqlite.ts";
import { SqliteSearch } from "./search.sqlite.ts";
import { SqliteSync } from "./sync.sqlite.ts";

export { StoreMissingError } from "./db.ts";

/**
 * Every port on one SQLite connection (the embedded default). Opening creates or migrates the
 * file, and throws StoreMissingError when a data dir's database went missing.
 */
export function openSqliteStore(file: string, options: SqliteStoreOptions = {}): Store {
  const db = new SqliteDb(file, options);
  return composeStore({
    rooms: new SqliteRooms(db),
    members: new SqliteMembers(db),
    messages: new SqliteMessages(db),
    state: new SqliteMessageState(db),
    blocks: new SqliteBlocks(db),
    search: new SqliteSearch(db),
    media: new SqliteMedia(db),
    devices: new SqliteDevices(db),
    sync: new SqliteSync(db),
    lifecycle: { ping: () => db.ping(), close: () => db.close() },
  });
}
