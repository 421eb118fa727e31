import { composeStore } from "../store.compose.ts";
import type { Store } from "../store.ts";
import { CouchbaseBlocks } from "./blocks.couchbase.ts";
import { type CouchbaseHandles, Db } from "./couchbase.layout.ts";
import { CouchbaseDevices } from "./devices.couchbase.ts";
import { CouchbaseMedia } from "./media.couchbase.ts";
import { CouchbaseMessageState } from "./message-state.couchbase.ts";
import { CouchbaseMessages } from "./messages.couchbase.ts";
import { CouchbaseRooms } from "./rooms.couchbase.ts";
import { CouchbaseSearch } from "./search.couchbase.ts";
import { CouchbaseChanges } from "./sync.couchbase.ts";

/** Every port on one Couchbase scope (production). `ping` and `close` come from the connection. */
export function createCouchbaseStore(
  handles: CouchbaseHandles,
  lifecycle: { ping: () => Promise<void>; close: () => Promise<void> },
): Store {
  const db = new Db(handles);
  const rooms = new CouchbaseRooms(db);
  const devices = new CouchbaseDevices(db);
  const changes = new CouchbaseChanges(db);
  return composeStore({
    rooms,
    members: rooms,
    messages: new CouchbaseMessages(db, rooms),
    state: new CouchbaseMessageState(db, rooms),
    blocks: new CouchbaseBlocks(db),
    search: new CouchbaseSearch(db, rooms),
    media: new CouchbaseMedia(db),
    devices,
    // Sync reads memberships from the rooms, changes from the change feed, cursors from the devices.
    sync: {
      memberRooms: (userId) => rooms.memberRooms(userId),
      messageChanges: (roomId, afterRev, uptoRev, viewerId, limit) =>
        changes.messageChanges(roomId, afterRev, uptoRev, viewerId, limit),
      saveSyncCursor: (cursor, keep) => devices.saveSyncCursor(cursor, keep),
      getSyncCursor: (id) => devices.getSyncCursor(id),
    },
    lifecycle,
  });
}
