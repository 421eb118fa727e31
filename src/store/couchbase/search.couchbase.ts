import type { MessageRecord, SearchQuery, SearchStore } from "../store.ts";
import { type Db, foldForSearch, type MessageDoc } from "./couchbase.layout.ts";
import { messageRecord } from "./messages.couchbase.ts";
import type { CouchbaseRooms } from "./rooms.couchbase.ts";

/** A page's keyset, `<created_at>|<message id>` of its last message. */
const CURSOR = /^([0-9T:.Z-]{1,40})\|([0-9A-Z]{26})$/;

/**
 * SearchStore on Couchbase: SQL++ over the caller's rooms, every term a substring of the
 * folded current text (see the `search` query). Newest first by creation time.
 */
export class CouchbaseSearch implements SearchStore {
  readonly #db: Db;
  readonly #rooms: CouchbaseRooms;
  constructor(db: Db, rooms: CouchbaseRooms) {
    this.#db = db;
    this.#rooms = rooms;
  }

  async searchMessages(
    userId: string,
    q: SearchQuery,
  ): Promise<{ messages: MessageRecord[]; next: string | null }> {
    let after = { at: "~", id: "~" };
    if (q.after !== undefined) {
      const m = CURSOR.exec(q.after);
      if (!m?.[1] || !m[2]) return { messages: [], next: null };
      after = { at: m[1], id: m[2] };
    }
    const mine = await this.#rooms.listRoomIdsForUser(userId);
    const rooms = q.roomId ? mine.filter((id) => id === q.roomId) : mine;
    if (rooms.length === 0) return { messages: [], next: null };
    const docs = await this.#db.q.rows<MessageDoc>("search", {
      rooms,
      user: userId,
      terms: q.terms.map(foldForSearch),
      after_at: after.at,
      after_id: after.id,
      limit: q.limit,
    });
    const last = docs.at(-1);
    return {
      messages: docs.map(messageRecord),
      next: docs.length === q.limit && last ? `${last.created_at}|${last.id}` : null,
    };
  }
}
