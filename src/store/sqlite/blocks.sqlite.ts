import type { BlocksStore } from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { str } from "./rows.ts";

/** BlocksStore on SQLite: one row per (blocker, blocked). */
export class SqliteBlocks implements BlocksStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  async block(blockerId: string, blockedId: string, at: string): Promise<void> {
    await this.#db.write(() =>
      this.#db
        .stmt(
          "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .run(blockerId, blockedId, at),
    );
  }

  async unblock(blockerId: string, blockedId: string): Promise<void> {
    await this.#db.write(() =>
      this.#db.stmt("DELETE FROM blocks WHERE blocker_id = ? AND blocked_id = ?").run(blockerId, blockedId),
    );
  }

  async isBlocked(blockerId: string, blockedId: string): Promise<boolean> {
    const row = await this.#db.read(() =>
      this.#db
        .stmt("SELECT 1 AS ok FROM blocks WHERE blocker_id = ? AND blocked_id = ?")
        .get(blockerId, blockedId),
    );
    return row !== undefined;
  }

  async blockersOf(userId: string, userIds: string[]): Promise<string[]> {
    if (userIds.length === 0) return [];
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          "SELECT blocker_id FROM blocks WHERE blocked_id = ? AND blocker_id IN (SELECT value FROM json_each(?))",
        )
        .all(userId, JSON.stringify(userIds)),
    );
    return rows.map((r) => str(r.blocker_id));
  }

  async isRoomBlocked(roomId: string): Promise<boolean> {
    const row = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT 1 AS ok FROM rooms r
           JOIN members a ON a.room_id = r.id JOIN members b ON b.room_id = r.id AND b.user_id <> a.user_id
           JOIN blocks k ON k.blocker_id = a.user_id AND k.blocked_id = b.user_id
           WHERE r.id = ? AND r.type = 'direct' LIMIT 1`,
        )
        .get(roomId),
    );
    return row !== undefined;
  }

  async directRoomId(a: string, b: string): Promise<string | null> {
    const key = [a, b].sort().join("|");
    const row = await this.#db.read(() =>
      this.#db.stmt("SELECT id FROM rooms WHERE direct_key = ?").get(key),
    );
    return row ? str(row.id) : null;
  }
}
