import type { SQLInputValue } from "node:sqlite";
import type {
  ActivityCursor,
  MemberRecord,
  MemberRole,
  MembersStore,
  NewMember,
  NewRoom,
  ReceiptChange,
  RoomChange,
  RoomForUser,
  RoomRecord,
  RoomsStore,
  SettingsChange,
  UnreadMembership,
} from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { memberFromRow, num, ROOM_COLUMNS, roomFromRow, str, strOrNull } from "./rows.ts";

/** RoomsStore on SQLite: a room and its members are written in one transaction. */
export class SqliteRooms implements RoomsStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  #insertRoom(room: NewRoom): boolean {
    const res = this.#db
      .stmt(
        `INSERT INTO rooms (id, type, name, description, avatar_media_id, created_by, created_at, updated_at,
         direct_key, last_activity_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (direct_key) DO NOTHING`,
      )
      .run(
        room.id,
        room.type,
        room.name,
        room.description,
        room.avatar_media_id,
        room.created_by,
        room.created_at,
        room.updated_at,
        room.direct_key,
        room.created_at,
      );
    return Number(res.changes) === 1;
  }

  #insertMembers(roomId: string, members: NewMember[]): void {
    const stmt = this.#db.stmt("INSERT INTO members (room_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)");
    for (const m of members) stmt.run(roomId, m.user_id, m.role, m.joined_at);
  }

  #getRoom(roomId: string): RoomRecord | null {
    const row = this.#db
      .stmt(
        `SELECT ${ROOM_COLUMNS} FROM rooms r LEFT JOIN messages m ON m.id = r.last_message_id WHERE r.id = ?`,
      )
      .get(roomId);
    return row ? roomFromRow(row) : null;
  }

  async createGroupRoom(room: NewRoom, members: NewMember[]): Promise<RoomRecord> {
    return this.#db.write(() => {
      this.#insertRoom(room);
      this.#insertMembers(room.id, members);
      const created = this.#getRoom(room.id);
      if (!created) throw new Error("room vanished inside its own transaction");
      return created;
    });
  }

  async getOrCreateDirectRoom(
    room: NewRoom,
    members: NewMember[],
  ): Promise<{ room: RoomRecord; created: boolean }> {
    return this.#db.write(() => {
      const created = this.#insertRoom(room);
      if (created) this.#insertMembers(room.id, members);
      const row = this.#db.stmt("SELECT id FROM rooms WHERE direct_key = ?").get(room.direct_key);
      const existing = row ? this.#getRoom(str(row.id)) : null;
      if (!existing) throw new Error("direct room vanished inside its own transaction");
      return { room: existing, created };
    });
  }

  async getRoom(roomId: string): Promise<RoomRecord | null> {
    return this.#db.read(() => this.#getRoom(roomId));
  }

  async updateRoom(roomId: string, change: RoomChange): Promise<RoomRecord | null> {
    const db = this.#db;
    return db.write(() => {
      const sets = ["updated_at = ?", "rev = max(rev, ?)"];
      const params: SQLInputValue[] = [change.updated_at, change.rev];
      for (const field of ["name", "description", "avatar_media_id"] as const) {
        if (change[field] !== undefined) {
          sets.push(`${field} = ?`);
          params.push(change[field]);
        }
      }
      db.stmt(`UPDATE rooms SET ${sets.join(", ")} WHERE id = ?`).run(...params, roomId);
      return this.#getRoom(roomId);
    });
  }

  async roomsWithAvatar(mediaId: string, limit: number): Promise<string[]> {
    const rows = await this.#db.read(() =>
      this.#db.stmt("SELECT id FROM rooms WHERE avatar_media_id = ? ORDER BY id LIMIT ?").all(mediaId, limit),
    );
    return rows.map((r) => str(r.id));
  }

  async clearAvatar(
    roomId: string,
    mediaId: string,
    change: { updated_at: string; rev: number },
  ): Promise<RoomRecord | null> {
    const db = this.#db;
    return db.write(() => {
      const res = db
        .stmt(
          `UPDATE rooms SET avatar_media_id = NULL, updated_at = ?, rev = max(rev, ?)
           WHERE id = ? AND avatar_media_id = ?`,
        )
        .run(change.updated_at, change.rev, roomId, mediaId);
      return Number(res.changes) === 1 ? this.#getRoom(roomId) : null;
    });
  }

  async listRoomsForUser(userId: string, limit: number, after?: ActivityCursor): Promise<RoomForUser[]> {
    const params: SQLInputValue[] = [userId];
    let where = "";
    if (after) {
      where = "AND (r.last_activity_at < ? OR (r.last_activity_at = ? AND r.id < ?))";
      params.push(after.last_activity_at, after.last_activity_at, after.id);
    }
    params.push(limit, userId);
    // The page's room ids first, then its columns: sorting the joined rows would build the last
    // message and its subqueries for every room of the user, not only the page's.
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT ${ROOM_COLUMNS}, me.role AS me_role, me.joined_at AS me_joined_at, me.read_seq AS me_read_seq,
         me.read_at AS me_read_at, me.delivered_seq AS me_delivered_seq, me.delivered_at AS me_delivered_at,
         me.muted_until AS me_muted_until, me.pinned AS me_pinned, me.archived AS me_archived
       FROM (SELECT r.id FROM members me JOIN rooms r ON r.id = me.room_id
             WHERE me.user_id = ? ${where}
             ORDER BY r.last_activity_at DESC, r.id DESC LIMIT ?) page
       JOIN rooms r ON r.id = page.id JOIN members me ON me.room_id = r.id AND me.user_id = ?
       LEFT JOIN messages m ON m.id = r.last_message_id
       ORDER BY r.last_activity_at DESC, r.id DESC`,
        )
        .all(...params),
    );
    return rows.map((row) => ({
      room: roomFromRow(row),
      member: memberFromRow({
        room_id: row.id,
        user_id: userId,
        role: row.me_role,
        joined_at: row.me_joined_at,
        read_seq: row.me_read_seq,
        read_at: row.me_read_at,
        delivered_seq: row.me_delivered_seq,
        delivered_at: row.me_delivered_at,
        muted_until: row.me_muted_until,
        pinned: row.me_pinned,
        archived: row.me_archived,
      }),
    }));
  }
}

export class SqliteMembers implements MembersStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  async addMembers(
    roomId: string,
    members: NewMember[],
    maxMembers: number,
    rev: number,
    readSeq: number,
  ): Promise<string[] | "full"> {
    const db = this.#db;
    return db.write(() => {
      const have = new Set(
        db
          .stmt("SELECT user_id FROM members WHERE room_id = ?")
          .all(roomId)
          .map((r) => str(r.user_id)),
      );
      const fresh = members.filter((m) => !have.has(m.user_id));
      if (have.size + fresh.length > maxMembers) return "full";
      const insert = db.stmt(
        `INSERT INTO members (room_id, user_id, role, joined_at, read_seq, read_at, delivered_seq, delivered_at, joined_rev)
         VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?5, ?4, ?6)`,
      );
      for (const m of fresh) insert.run(roomId, m.user_id, m.role, m.joined_at, readSeq, rev);
      if (fresh.length > 0) db.stmt("UPDATE rooms SET rev = max(rev, ?) WHERE id = ?").run(rev, roomId);
      return fresh.map((m) => m.user_id);
    });
  }

  async removeMember(
    roomId: string,
    userId: string,
    rev: number,
  ): Promise<{ removed: boolean; promoted: string | null }> {
    const db = this.#db;
    return db.write(() => {
      const removed =
        Number(
          db.stmt("DELETE FROM members WHERE room_id = ? AND user_id = ?").run(roomId, userId).changes,
        ) === 1;
      if (!removed) return { removed, promoted: null };
      db.stmt("UPDATE rooms SET rev = max(rev, ?) WHERE id = ?").run(rev, roomId);
      const admins = db
        .stmt("SELECT count(*) AS n FROM members WHERE room_id = ? AND role = 'admin'")
        .get(roomId);
      const isGroup = db.stmt("SELECT 1 AS ok FROM rooms WHERE id = ? AND type = 'group'").get(roomId);
      if (!isGroup || Number(admins?.n ?? 0) > 0) return { removed, promoted: null };
      const next = db
        .stmt("SELECT user_id FROM members WHERE room_id = ? ORDER BY joined_at, user_id LIMIT 1")
        .get(roomId);
      if (!next) return { removed, promoted: null };
      const promoted = str(next.user_id);
      db.stmt("UPDATE members SET role = 'admin' WHERE room_id = ? AND user_id = ?").run(roomId, promoted);
      return { removed, promoted };
    });
  }

  async setRole(
    roomId: string,
    userId: string,
    role: MemberRole,
    rev: number,
  ): Promise<MemberRecord | "last_admin" | null> {
    const db = this.#db;
    return db.write(() => {
      const member = db.stmt("SELECT * FROM members WHERE room_id = ? AND user_id = ?").get(roomId, userId);
      if (!member) return null;
      if (role === "member" && member.role === "admin") {
        const admins = db
          .stmt("SELECT count(*) AS n FROM members WHERE room_id = ? AND role = 'admin'")
          .get(roomId);
        if (Number(admins?.n ?? 0) <= 1) return "last_admin";
      }
      db.stmt("UPDATE members SET role = ? WHERE room_id = ? AND user_id = ?").run(role, roomId, userId);
      db.stmt("UPDATE rooms SET rev = max(rev, ?) WHERE id = ?").run(rev, roomId);
      const row = db.stmt("SELECT * FROM members WHERE room_id = ? AND user_id = ?").get(roomId, userId);
      return row ? memberFromRow(row) : null;
    });
  }

  async getMembers(roomId: string): Promise<MemberRecord[]> {
    const rows = await this.#db.read(() =>
      this.#db.stmt("SELECT * FROM members WHERE room_id = ? ORDER BY joined_at, user_id").all(roomId),
    );
    return rows.map((r) => memberFromRow(r));
  }

  async getMember(roomId: string, userId: string): Promise<MemberRecord | null> {
    const row = await this.#db.read(() =>
      this.#db.stmt("SELECT * FROM members WHERE room_id = ? AND user_id = ?").get(roomId, userId),
    );
    return row ? memberFromRow(row) : null;
  }

  async listMemberIds(roomId: string): Promise<string[]> {
    const rows = await this.#db.read(() =>
      this.#db.stmt("SELECT user_id FROM members WHERE room_id = ?").all(roomId),
    );
    return rows.map((r) => str(r.user_id));
  }

  async directPartners(userId: string): Promise<string[]> {
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT o.user_id FROM members me JOIN rooms r ON r.id = me.room_id AND r.type = 'direct'
           JOIN members o ON o.room_id = me.room_id AND o.user_id <> me.user_id WHERE me.user_id = ?`,
        )
        .all(userId),
    );
    return rows.map((r) => str(r.user_id));
  }

  async shareRoom(a: string, b: string): Promise<boolean> {
    const row = await this.#db.read(() =>
      this.#db
        .stmt(
          "SELECT 1 AS ok FROM members x JOIN members y ON y.room_id = x.room_id WHERE x.user_id = ? AND y.user_id = ? LIMIT 1",
        )
        .get(a, b),
    );
    return row !== undefined;
  }

  async listMemberships(userId: string): Promise<UnreadMembership[]> {
    // Four columns, not the whole row: decoding 500 rows was most of GET /unread's store time.
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT me.room_id, me.read_seq, me.muted_until, r.last_seq
           FROM members me JOIN rooms r ON r.id = me.room_id WHERE me.user_id = ?`,
        )
        .all(userId),
    );
    return rows.map((r) => ({
      member: {
        room_id: str(r.room_id),
        user_id: userId,
        read_seq: num(r.read_seq),
        muted_until: strOrNull(r.muted_until),
      },
      last_seq: num(r.last_seq),
    }));
  }

  async updateReceipts(roomId: string, userId: string, change: ReceiptChange): Promise<MemberRecord | null> {
    const db = this.#db;
    return db.write(() => {
      if (change.read_seq !== undefined) {
        db.stmt(
          `UPDATE members SET read_seq = ?1, read_at = ?2, receipt_rev = max(receipt_rev, ?3)
           WHERE room_id = ?4 AND user_id = ?5 AND read_seq < ?1`,
        ).run(change.read_seq, change.at, change.rev, roomId, userId);
      }
      // Reading implies delivery.
      const delivered = Math.max(change.read_seq ?? 0, change.delivered_seq ?? 0);
      if (delivered > 0) {
        db.stmt(
          `UPDATE members SET delivered_seq = ?1, delivered_at = ?2, receipt_rev = max(receipt_rev, ?3)
           WHERE room_id = ?4 AND user_id = ?5 AND delivered_seq < ?1`,
        ).run(delivered, change.at, change.rev, roomId, userId);
      }
      const row = db.stmt("SELECT * FROM members WHERE room_id = ? AND user_id = ?").get(roomId, userId);
      return row ? memberFromRow(row) : null;
    });
  }

  async updateSettings(roomId: string, userId: string, change: SettingsChange): Promise<MemberRecord | null> {
    const db = this.#db;
    return db.write(() => {
      const sets: string[] = [];
      const params: SQLInputValue[] = [];
      if (change.muted_until !== undefined) {
        sets.push("muted_until = ?");
        params.push(change.muted_until);
      }
      if (change.pinned !== undefined) {
        sets.push("pinned = ?");
        params.push(change.pinned ? 1 : 0);
      }
      if (change.archived !== undefined) {
        sets.push("archived = ?");
        params.push(change.archived ? 1 : 0);
      }
      sets.push("settings_rev = max(settings_rev, ?)");
      params.push(change.rev, roomId, userId);
      db.stmt(`UPDATE members SET ${sets.join(", ")} WHERE room_id = ? AND user_id = ?`).run(...params);
      const row = db.stmt("SELECT * FROM members WHERE room_id = ? AND user_id = ?").get(roomId, userId);
      return row ? memberFromRow(row) : null;
    });
  }

  async listRoomIdsForUser(userId: string): Promise<string[]> {
    const rows = await this.#db.read(() =>
      this.#db.stmt("SELECT room_id FROM members WHERE user_id = ?").all(userId),
    );
    return rows.map((r) => str(r.room_id));
  }
}
