import type { SyncCursorRecord, SyncKind, SyncStore } from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { num, str } from "./rows.ts";

/**
 * SyncStore on SQLite. Changes are found through the (room, rev) indexes of every table that
 * holds a message's changes, so a sync reads what changed, never a room's history.
 */
export class SqliteSync implements SyncStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  async memberRooms(userId: string): Promise<{ room_id: string; joined_rev: number }[]> {
    const rows = await this.#db.read(() =>
      this.#db.stmt("SELECT room_id, joined_rev FROM members WHERE user_id = ?").all(userId),
    );
    return rows.map((r) => ({ room_id: str(r.room_id), joined_rev: num(r.joined_rev) }));
  }

  async messageChanges(
    roomId: string,
    afterRev: number,
    uptoRev: number,
    viewerId: string,
    limit: number,
  ): Promise<{ message_id: string; rev: number }[]> {
    // Every change above afterRev: the max over them is the message's latest change overall.
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT message_id, max(rev) AS rev FROM (
             SELECT id AS message_id, rev FROM messages WHERE room_id = ?1 AND rev > ?2
             UNION ALL SELECT message_id, rev FROM message_edits WHERE room_id = ?1 AND rev > ?2
             UNION ALL SELECT message_id, rev FROM message_deletes WHERE room_id = ?1 AND rev > ?2
             UNION ALL SELECT message_id, rev FROM message_reactions WHERE room_id = ?1 AND rev > ?2
             UNION ALL SELECT message_id, rev FROM message_media WHERE room_id = ?1 AND rev > ?2
             UNION ALL SELECT message_id, rev FROM message_rollbacks WHERE room_id = ?1 AND rev > ?2
             UNION ALL SELECT message_id, rev FROM message_hides WHERE user_id = ?3 AND room_id = ?1 AND rev > ?2
             UNION ALL SELECT message_id, rev FROM message_stars WHERE user_id = ?3 AND room_id = ?1 AND rev > ?2
           ) GROUP BY message_id HAVING max(rev) <= ?4 ORDER BY rev LIMIT ?5`,
        )
        .all(roomId, afterRev, viewerId, uptoRev, limit),
    );
    return rows.map((r) => ({ message_id: str(r.message_id), rev: num(r.rev) }));
  }

  async saveSyncCursor(c: SyncCursorRecord): Promise<void> {
    await this.#db.write(() =>
      this.#db
        .stmt(
          "INSERT INTO sync_cursors (id, user_id, device_id, kind, state, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .run(c.id, c.user_id, c.device_id, c.kind, c.state, c.created_at),
    );
  }

  async getSyncCursor(id: string): Promise<SyncCursorRecord | null> {
    const row = await this.#db.read(() => this.#db.stmt("SELECT * FROM sync_cursors WHERE id = ?").get(id));
    return row
      ? {
          id: str(row.id),
          user_id: str(row.user_id),
          device_id: str(row.device_id),
          kind: str(row.kind) as SyncKind,
          state: str(row.state),
          created_at: str(row.created_at),
        }
      : null;
  }

  async pruneSyncCursors(userId: string, deviceId: string, kind: SyncKind, beforeId: string): Promise<void> {
    await this.#db.write(() =>
      this.#db
        .stmt("DELETE FROM sync_cursors WHERE user_id = ? AND device_id = ? AND kind = ? AND id < ?")
        .run(userId, deviceId, kind, beforeId),
    );
  }
}
