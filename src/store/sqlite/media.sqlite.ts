import type { MediaChange, MediaKind, MediaLink, MediaRecord, MediaStatus, MediaStore } from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { num, type Row, str, strOrNull } from "./rows.ts";

const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function mediaFromRow(r: Row): MediaRecord {
  return {
    id: str(r.id),
    owner_id: str(r.owner_id),
    kind: str(r.kind) as MediaKind,
    status: str(r.status) as MediaStatus,
    filename: str(r.filename),
    content_type: str(r.content_type),
    size: num(r.size),
    upload_key: str(r.upload_key),
    object_key: strOrNull(r.object_key),
    thumb_key: strOrNull(r.thumb_key),
    placeholder: strOrNull(r.placeholder),
    width: numOrNull(r.width),
    height: numOrNull(r.height),
    duration: numOrNull(r.duration),
    failure: strOrNull(r.failure),
    created_at: str(r.created_at),
    updated_at: str(r.updated_at),
    deleted_at: strOrNull(r.deleted_at),
  };
}

const CHANGE_FIELDS = [
  "status",
  "content_type",
  "object_key",
  "thumb_key",
  "placeholder",
  "width",
  "height",
  "duration",
  "failure",
  "updated_at",
] as const;

const linkFromRow = (r: Row): MediaLink => ({
  media_id: str(r.media_id),
  room_id: str(r.room_id),
  message_id: str(r.message_id),
});

/** MediaStore on SQLite: one row per media, one per (media, message) link. */
export class SqliteMedia implements MediaStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  async createMedia(
    m: MediaRecord,
    quota?: { since: string; maxBytes: number },
  ): Promise<{ created: true } | { created: false; used: number }> {
    const db = this.#db;
    return db.write(() => {
      if (quota) {
        const row = db
          .stmt("SELECT coalesce(sum(size), 0) AS bytes FROM media WHERE owner_id = ? AND created_at > ?")
          .get(m.owner_id, quota.since);
        const used = num(row?.bytes ?? 0);
        if (used + m.size > quota.maxBytes) return { created: false as const, used };
      }
      db.stmt(
        `INSERT INTO media (id, owner_id, kind, status, filename, content_type, size, upload_key, object_key,
           thumb_key, placeholder, width, height, duration, failure, created_at, updated_at, deleted_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(
        m.id,
        m.owner_id,
        m.kind,
        m.status,
        m.filename,
        m.content_type,
        m.size,
        m.upload_key,
        m.object_key,
        m.thumb_key,
        m.placeholder,
        m.width,
        m.height,
        m.duration,
        m.failure,
        m.created_at,
        m.updated_at,
        m.deleted_at,
      );
      return { created: true as const };
    });
  }

  async getMedia(mediaId: string): Promise<MediaRecord | null> {
    const row = await this.#db.read(() => this.#db.stmt("SELECT * FROM media WHERE id = ?").get(mediaId));
    return row ? mediaFromRow(row) : null;
  }

  async getMediaMany(mediaIds: string[]): Promise<Map<string, MediaRecord>> {
    const out = new Map<string, MediaRecord>();
    if (mediaIds.length === 0) return out;
    const rows = await this.#db.read(() =>
      this.#db
        .stmt("SELECT * FROM media WHERE id IN (SELECT value FROM json_each(?))")
        .all(JSON.stringify([...new Set(mediaIds)])),
    );
    for (const r of rows) out.set(str(r.id), mediaFromRow(r));
    return out;
  }

  async updateMedia(mediaId: string, from: MediaStatus[], change: MediaChange): Promise<MediaRecord | null> {
    const fields = CHANGE_FIELDS.filter((f) => change[f] !== undefined);
    const values = fields.map((f) => change[f] ?? null);
    const row = await this.#db.write(() =>
      this.#db
        .stmt(
          `UPDATE media SET ${fields.map((f) => `${f} = ?`).join(", ")}
           WHERE id = ? AND deleted_at IS NULL AND status IN (SELECT value FROM json_each(?)) RETURNING *`,
        )
        .get(...values, mediaId, JSON.stringify(from)),
    );
    return row ? mediaFromRow(row) : null;
  }

  async deleteMedia(mediaId: string, at: string): Promise<MediaRecord | null> {
    const row = await this.#db.write(() => {
      this.#db.stmt("UPDATE media SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").run(at, mediaId);
      return this.#db.stmt("SELECT * FROM media WHERE id = ?").get(mediaId);
    });
    return row ? mediaFromRow(row) : null;
  }

  async linkMedia(links: MediaLink[]): Promise<void> {
    if (links.length === 0) return;
    await this.#db.write(() => {
      const insert = this.#db.stmt(
        "INSERT INTO media_links (media_id, message_id, room_id) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      );
      for (const l of links) insert.run(l.media_id, l.message_id, l.room_id);
    });
  }

  async mediaLinks(mediaId: string, limit: number): Promise<MediaLink[]> {
    const rows = await this.#db.read(() =>
      this.#db
        .stmt("SELECT * FROM media_links WHERE media_id = ? ORDER BY message_id LIMIT ?")
        .all(mediaId, limit),
    );
    return rows.map(linkFromRow);
  }

  async mediaLinksForMember(mediaId: string, userId: string, limit: number): Promise<MediaLink[]> {
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT l.* FROM media_links l JOIN members m ON m.room_id = l.room_id AND m.user_id = ?
           WHERE l.media_id = ? ORDER BY l.message_id LIMIT ?`,
        )
        .all(userId, mediaId, limit),
    );
    return rows.map(linkFromRow);
  }
}
