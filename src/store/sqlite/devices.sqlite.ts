import type { DeviceRecord, DevicesStore, DeviceUpsert, Platform } from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { type Row, str, strOrNull } from "./rows.ts";

function deviceFromRow(r: Row): DeviceRecord {
  return {
    user_id: str(r.user_id),
    device_id: str(r.device_id),
    platform: str(r.platform) as Platform,
    push_token: strOrNull(r.push_token),
    app_version: strOrNull(r.app_version),
    created_at: str(r.created_at),
    updated_at: str(r.updated_at),
    last_sync_at: strOrNull(r.last_sync_at),
    last_seen_at: strOrNull(r.last_seen_at),
  };
}

/** DevicesStore on SQLite: one row per (user, device); the token is unique across rows. */
export class SqliteDevices implements DevicesStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  async upsertDevice(d: DeviceUpsert, maxDevices: number) {
    const db = this.#db;
    return db.write(() => {
      const mine = db.stmt("SELECT device_id FROM devices WHERE user_id = ?").all(d.user_id);
      if (mine.length >= maxDevices && !mine.some((r) => str(r.device_id) === d.device_id))
        return "full" as const;
      let tokenTakenFrom: { user_id: string; device_id: string } | null = null;
      if (d.push_token) {
        const holder = db
          .stmt(
            "SELECT user_id, device_id FROM devices WHERE push_token = ? AND NOT (user_id = ? AND device_id = ?)",
          )
          .get(d.push_token, d.user_id, d.device_id);
        if (holder) {
          tokenTakenFrom = { user_id: str(holder.user_id), device_id: str(holder.device_id) };
          db.stmt("UPDATE devices SET push_token = NULL, updated_at = ? WHERE push_token = ?").run(
            d.at,
            d.push_token,
          );
        }
      }
      const existing = db
        .stmt("SELECT 1 AS ok FROM devices WHERE user_id = ? AND device_id = ?")
        .get(d.user_id, d.device_id);
      db.stmt(
        `INSERT INTO devices (user_id, device_id, platform, push_token, app_version, created_at, updated_at, last_seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)
         ON CONFLICT (user_id, device_id) DO UPDATE SET platform = excluded.platform,
           push_token = CASE WHEN ?7 THEN excluded.push_token ELSE push_token END,
           app_version = CASE WHEN ?8 THEN excluded.app_version ELSE app_version END,
           updated_at = excluded.updated_at, last_seen_at = excluded.last_seen_at`,
      ).run(
        d.user_id,
        d.device_id,
        d.platform,
        d.push_token ?? null,
        d.app_version ?? null,
        d.at,
        d.push_token !== undefined ? 1 : 0,
        d.app_version !== undefined ? 1 : 0,
      );
      const row = db
        .stmt("SELECT * FROM devices WHERE user_id = ? AND device_id = ?")
        .get(d.user_id, d.device_id);
      if (!row) throw new Error("device row missing after upsert");
      return { device: deviceFromRow(row), created: !existing, tokenTakenFrom };
    });
  }

  async getDevice(userId: string, deviceId: string): Promise<DeviceRecord | null> {
    const row = await this.#db.read(() =>
      this.#db.stmt("SELECT * FROM devices WHERE user_id = ? AND device_id = ?").get(userId, deviceId),
    );
    return row ? deviceFromRow(row) : null;
  }

  async listDevices(userId: string): Promise<DeviceRecord[]> {
    const rows = await this.#db.read(() =>
      this.#db.stmt("SELECT * FROM devices WHERE user_id = ? ORDER BY created_at, device_id").all(userId),
    );
    return rows.map(deviceFromRow);
  }

  async devicesOf(userIds: string[]): Promise<DeviceRecord[]> {
    if (userIds.length === 0) return [];
    const rows = await this.#db.read(() =>
      this.#db
        .stmt("SELECT * FROM devices WHERE user_id IN (SELECT value FROM json_each(?))")
        .all(JSON.stringify(userIds)),
    );
    return rows.map(deviceFromRow);
  }

  async deleteDevice(userId: string, deviceId: string): Promise<boolean> {
    return this.#db.write(() => {
      this.#db.stmt("DELETE FROM sync_cursors WHERE user_id = ? AND device_id = ?").run(userId, deviceId);
      const gone = this.#db
        .stmt("DELETE FROM devices WHERE user_id = ? AND device_id = ?")
        .run(userId, deviceId);
      return Number(gone.changes) > 0;
    });
  }

  async touchDevice(
    userId: string,
    deviceId: string,
    times: { last_sync_at?: string; last_seen_at?: string },
  ): Promise<DeviceRecord | null> {
    // Each time only moves forward; a missing one stays as it is.
    const later = (col: string, n: number) =>
      `${col} = CASE WHEN ?${n} IS NOT NULL AND (${col} IS NULL OR ?${n} > ${col}) THEN ?${n} ELSE ${col} END`;
    const row = await this.#db.write(() =>
      this.#db
        .stmt(
          `UPDATE devices SET ${later("last_sync_at", 1)}, ${later("last_seen_at", 2)}
           WHERE user_id = ?3 AND device_id = ?4 RETURNING *`,
        )
        .get(times.last_sync_at ?? null, times.last_seen_at ?? null, userId, deviceId),
    );
    return row ? deviceFromRow(row) : null;
  }

  async dropPushToken(token: string): Promise<void> {
    await this.#db.write(() =>
      this.#db.stmt("UPDATE devices SET push_token = NULL WHERE push_token = ?").run(token),
    );
  }
}
