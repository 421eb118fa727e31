import type { SQLInputValue } from "node:sqlite";
import type { MessageRecord, SearchQuery, SearchStore } from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { MESSAGE_COLUMNS, messageFromRow } from "./rows.ts";

const M_COLUMNS = MESSAGE_COLUMNS.split(", ")
  .map((c) => `m.${c}`)
  .join(", ");

/** SearchStore on SQLite's FTS5 (trigram tokenizer, see migration 7). */
export class SqliteSearch implements SearchStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  /**
   * Walks the index newest rowid first (rowids grow as messages are stored), so a common query
   * stops after `limit` matches in the caller's rooms instead of sorting every match.
   */
  async searchMessages(
    userId: string,
    q: SearchQuery,
  ): Promise<{ messages: MessageRecord[]; next: string | null }> {
    // Each term as an FTS5 string (quotes doubled): user input is never FTS syntax.
    const match = q.terms.map((t) => `"${t.replaceAll('"', '""')}"`).join(" ");
    const params: SQLInputValue[] = [userId, match, userId];
    let filters = "";
    if (q.roomId) {
      filters += " AND m.room_id = ?";
      params.push(q.roomId);
    }
    if (q.after !== undefined) {
      const after = Number(q.after);
      if (!Number.isSafeInteger(after)) return { messages: [], next: null };
      filters += " AND f.rowid < ?";
      params.push(after);
    }
    params.push(q.limit);
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT ${M_COLUMNS}, f.rowid AS fts_rowid
           FROM messages_fts f
           JOIN messages m ON m.rowid = f.rowid
           JOIN members me ON me.room_id = m.room_id AND me.user_id = ?
           WHERE messages_fts MATCH ?
             AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = m.id AND h.user_id = ?)
             ${filters}
           ORDER BY f.rowid DESC
           LIMIT ?`,
        )
        .all(...params),
    );
    const last = rows.at(-1);
    return {
      messages: rows.map(messageFromRow),
      next: rows.length === q.limit && last ? String(last.fts_rowid) : null,
    };
  }
}
