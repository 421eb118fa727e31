import type { Db } from "./couchbase.layout.ts";

/**
 * SyncStore's change feed on Couchbase: the (room, rev) indexes of every collection holding a
 * message's changes, read above the device's revision, merged here to each message's latest
 * change. Cost grows with the changes, not the room's history.
 */
export class CouchbaseChanges {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async messageChanges(
    roomId: string,
    afterRev: number,
    uptoRev: number,
    viewerId: string,
    limit: number,
  ): Promise<{ message_id: string; rev: number }[]> {
    const params = { room: roomId, after: afterRev };
    const lists = await Promise.all([
      this.#db.q.rows<[string, number]>("messageRevs", params),
      this.#db.q.rows<[string, number]>("stateRevs", params),
      this.#db.q.rows<[string, number]>("rollbackRevs", params),
      this.#db.q.rows<[string, number]>("userRevs", { ...params, user: viewerId }),
    ]);
    return latestChanges(lists.flat(), uptoRev, limit);
  }
}

/** Each message once at its latest change, only those whose latest is at most `uptoRev`, oldest first. */
export function latestChanges(
  changes: [string, number][],
  uptoRev: number,
  limit: number,
): { message_id: string; rev: number }[] {
  const latest = new Map<string, number>();
  for (const [id, rev] of changes) latest.set(id, Math.max(latest.get(id) ?? 0, rev));
  return [...latest]
    .filter(([, rev]) => rev <= uptoRev)
    .sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, limit)
    .map(([message_id, rev]) => ({ message_id, rev }));
}
