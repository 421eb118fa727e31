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

  async searchMessages(userId: string, q: SearchQuery): Promise<MessageRecord[]> {
    const params: SQLInputValue[] = [userId, q.match, userId];
    let filters = "";
    if (q.roomId) {
      filters += " AND m.room_id = ?";
      params.push(q.roomId);
    }
    if (q.before) {
      filters += " AND (m.created_at < ? OR (m.created_at = ? AND m.id < ?))";
      params.push(q.before.created_at, q.before.created_at, q.before.id);
    }
    params.push(q.limit);
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT ${M_COLUMNS}
           FROM messages_fts f
           JOIN messages m ON m.rowid = f.rowid
           JOIN members me ON me.room_id = m.room_id AND me.user_id = ?
           WHERE messages_fts MATCH ?
             AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = m.id AND h.user_id = ?)
             ${filters}
           ORDER BY m.created_at DESC, m.id DESC
           LIMIT ?`,
        )
        .all(...params),
    );
    return rows.map(messageFromRow);
  }
}
