import { type Db, keys } from "./couchbase.layout.ts";
import type { QueryName } from "./couchbase.queries.ts";

/** The collections holding a message's changes, each read by its (room, rev) index. */
const SOURCES: QueryName[] = ["messageRevs", "stateRevs", "rollbackRevs", "userRevs"];
/** Changes read per source and step at least (a page of a few messages still reads a useful step). */
const MIN_STEP = 32;

type Change = [message_id: string, rev: number];

/**
 * SyncStore's change feed on Couchbase: the (room, rev) indexes of every collection holding a
 * message's changes, walked in rev order from the device's revision, a step at a time, until
 * `limit` messages whose latest change it is are found: a page reads about its own size,
 * whatever the changes since the cursor.
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
    const found: { message_id: string; rev: number }[] = [];
    const taken = new Set<string>();
    // Per source: the changes read but not yet taken, complete up to `through`.
    const sources = SOURCES.map((query) => ({
      query,
      step: Math.max(limit, MIN_STEP),
      changes: [] as Change[],
      through: afterRev,
    }));
    const params = { room: roomId, user: viewerId, upto: uptoRev };
    for (let after = afterRev; found.length < limit && after < uptoRev; ) {
      // Read on only the sources with nothing read beyond where the walk stands.
      await Promise.all(sources.filter((s) => s.through <= after).map((s) => this.#readOn(s, params)));
      const through = Math.min(...sources.map((s) => s.through));
      const changes: Change[] = [];
      for (const s of sources) {
        const cut = s.changes.findIndex(([, rev]) => rev > through);
        changes.push(...s.changes.splice(0, cut === -1 ? s.changes.length : cut));
      }
      changes.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      const latest = await this.#latestRevs([...new Set(changes.map(([id]) => id))], viewerId);
      for (const [id, rev] of changes) {
        if (found.length >= limit) break;
        if (rev !== latest.get(id) || taken.has(id)) continue;
        taken.add(id);
        found.push({ message_id: id, rev });
      }
      after = through;
    }
    return found;
  }

  /**
   * Reads a source's next step of changes after its `through`, and moves `through` to where
   * they are complete: a full step may have left some of its last revision unread, so that one
   * is left for the next step (a step holding a single revision is doubled until it holds more).
   */
  async #readOn(
    s: { query: QueryName; step: number; changes: Change[]; through: number },
    params: { room: string; user: string; upto: number },
  ): Promise<void> {
    for (;;) {
      const bound = { room: params.room, after: s.through, upto: params.upto, limit: s.step };
      const changes = await this.#db.q.rows<Change>(
        s.query,
        s.query === "userRevs" ? { ...bound, user: params.user } : bound,
      );
      const last = changes.at(-1)?.[1];
      if (changes.length < s.step || last === undefined) {
        s.changes.push(...changes);
        s.through = params.upto;
        return;
      }
      if (last - 1 > s.through) {
        s.changes.push(...changes.filter(([, rev]) => rev < last));
        s.through = last - 1;
        return;
      }
      s.step *= 2;
    }
  }

  /** Each message's latest change over every collection (the viewer's own marks only). */
  async #latestRevs(ids: string[], viewerId: string): Promise<Map<string, number>> {
    const [messages, states, rollbacks, mine] = await Promise.all([
      this.#db.messages.many(ids),
      this.#db.messageState.many(ids),
      this.#db.rollbacks.many(ids),
      this.#db.userMessages.many(ids.map((id) => keys.userMessage(viewerId, id))),
    ]);
    return new Map(
      ids.map((id) => [
        id,
        Math.max(
          messages.get(id)?.rev ?? 0,
          states.get(id)?.rev ?? 0,
          rollbacks.get(id)?.rev ?? 0,
          mine.get(keys.userMessage(viewerId, id))?.rev ?? 0,
        ),
      ]),
    );
  }
}
