import type { SyncCursorRecord, SyncKind, SyncStore } from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { num, str } from "./rows.ts";

/** Besides the cursor a device came with, its newest few cursors of a kind stay usable. */
const KEEP_NEWEST = 3;

/**
 * The window's changes in rev order (each arm walks its (room, rev) index and SQLite merges
 * them: no sort), keeping a change only while its message has none later in any table (by
 * message id), so a page stops after `limit` messages instead of grouping every change since
 * the cursor. Two tables may hold a message's latest change at the same rev: DISTINCT keeps
 * one. No ORDER BY outside: SQLite would then drop the merge and sort the whole window, and
 * the subquery's order is what the outer scan yields (checked by EXPLAIN QUERY PLAN in
 * test/integration/sqlite.sync-bounded.test.ts).
 */
const MESSAGE_CHANGES = `SELECT DISTINCT c.message_id, c.rev FROM (
    SELECT id AS message_id, rev FROM messages WHERE room_id = ?1 AND rev > ?2 AND rev <= ?4
    UNION ALL SELECT message_id, rev FROM message_edits WHERE room_id = ?1 AND rev > ?2 AND rev <= ?4
    UNION ALL SELECT message_id, rev FROM message_deletes WHERE room_id = ?1 AND rev > ?2 AND rev <= ?4
    UNION ALL SELECT message_id, rev FROM message_reactions WHERE room_id = ?1 AND rev > ?2 AND rev <= ?4
    UNION ALL SELECT message_id, rev FROM message_media WHERE room_id = ?1 AND rev > ?2 AND rev <= ?4
    UNION ALL SELECT message_id, rev FROM message_rollbacks WHERE room_id = ?1 AND rev > ?2 AND rev <= ?4
    UNION ALL SELECT message_id, rev FROM message_hides
      WHERE user_id = ?3 AND room_id = ?1 AND rev > ?2 AND rev <= ?4
    UNION ALL SELECT message_id, rev FROM message_stars
      WHERE user_id = ?3 AND room_id = ?1 AND rev > ?2 AND rev <= ?4
    ORDER BY rev
  ) AS c
  WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = c.message_id AND rev > c.rev)
    AND NOT EXISTS (SELECT 1 FROM message_edits WHERE message_id = c.message_id AND rev > c.rev)
    AND NOT EXISTS (SELECT 1 FROM message_deletes WHERE message_id = c.message_id AND rev > c.rev)
    AND NOT EXISTS (SELECT 1 FROM message_reactions WHERE message_id = c.message_id AND rev > c.rev)
    AND NOT EXISTS (SELECT 1 FROM message_media WHERE message_id = c.message_id AND rev > c.rev)
    AND NOT EXISTS (SELECT 1 FROM message_rollbacks WHERE message_id = c.message_id AND rev > c.rev)
    AND NOT EXISTS (SELECT 1 FROM message_hides WHERE message_id = c.message_id AND user_id = ?3 AND rev > c.rev)
    AND NOT EXISTS (SELECT 1 FROM message_stars WHERE message_id = c.message_id AND user_id = ?3 AND rev > c.rev)
  LIMIT ?5`;

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
    const rows = await this.#db.read(() =>
      this.#db.stmt(MESSAGE_CHANGES).all(roomId, afterRev, viewerId, uptoRev, limit),
    );
    return rows.map((r) => ({ message_id: str(r.message_id), rev: num(r.rev) }));
  }

  async saveSyncCursor(c: SyncCursorRecord, keep: string[]): Promise<boolean> {
    const db = this.#db;
    return db.write(() => {
      const saved = db
        .stmt(
          `INSERT INTO sync_cursors (id, user_id, device_id, kind, state, created_at)
           SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM devices WHERE user_id = ?2 AND device_id = ?3)`,
        )
        .run(c.id, c.user_id, c.device_id, c.kind, c.state, c.created_at);
      if (Number(saved.changes) === 0) return false;
      db.stmt(
        `DELETE FROM sync_cursors WHERE user_id = ?1 AND device_id = ?2 AND kind = ?3
           AND id NOT IN (SELECT value FROM json_each(?4))
           AND id NOT IN (SELECT id FROM sync_cursors WHERE user_id = ?1 AND device_id = ?2 AND kind = ?3
                          ORDER BY id DESC LIMIT ?5)`,
      ).run(c.user_id, c.device_id, c.kind, JSON.stringify([c.id, ...keep]), KEEP_NEWEST);
      return true;
    });
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
}
