import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite";
import type { Logger } from "../../observability/logger.ts";
import {
  type ActivityCursor,
  type HistoryQuery,
  type MemberRecord,
  type MessageRecord,
  type MessageType,
  type NewMember,
  type NewRoom,
  type RoomForUser,
  type RoomRecord,
  type Store,
  StoreRejectedError,
  StoreUnavailableError,
} from "../store.ts";
import { migrations } from "./migrations.ts";

type Row = Record<string, unknown>;

const str = (v: unknown): string => String(v);
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const num = (v: unknown): number => Number(v);

/** Primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CONSTRAINT = 19;
/** Codes that say "not now" rather than "never": NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL. */
const UNAVAILABLE_CODES = new Set([7, 8, 10, 11, 13, 14, 15]);

function sqliteCode(err: unknown): number | undefined {
  if (err instanceof Error && "errcode" in err && typeof err.errcode === "number") return err.errcode & 0xff;
  return undefined;
}
const isBusy = (err: unknown) => {
  const code = sqliteCode(err);
  return code === SQLITE_BUSY || code === SQLITE_LOCKED;
};

/** Maps a SQLite error to the port's error types, keeping the original as the cause. */
function classify(err: unknown): unknown {
  const code = sqliteCode(err);
  if (code === undefined) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (code === SQLITE_CONSTRAINT) return new StoreRejectedError(message);
  if (code === SQLITE_BUSY || code === SQLITE_LOCKED) {
    return new StoreUnavailableError(`database is locked by another process: ${message}`, {
      cause: err,
      retryAfterS: 2,
    });
  }
  if (UNAVAILABLE_CODES.has(code))
    return new StoreUnavailableError(`database unavailable: ${message}`, { cause: err });
  return err;
}

const ROOM_COLUMNS = `r.id, r.type, r.name, r.description, r.avatar_media_id, r.created_by, r.created_at,
  r.updated_at, r.direct_key, r.last_seq, r.last_activity_at,
  (SELECT count(*) FROM members c WHERE c.room_id = r.id) AS members_count,
  m.id AS m_id, m.seq AS m_seq, m.sender_id AS m_sender_id, m.client_id AS m_client_id, m.type AS m_type,
  m.text AS m_text, m.media_id AS m_media_id, m.reply_to_id AS m_reply_to_id, m.mentions AS m_mentions,
  m.created_at AS m_created_at`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type SqliteStoreOptions = {
  /**
   * How long a write waits for another connection's lock. The wait is asynchronous (the
   * connection's own busy timeout is 0 and attempts are retried on timers): node:sqlite is
   * synchronous, and a busy timeout would freeze the whole event loop meanwhile.
   */
  lockWaitMs?: number;
  /** Create a new database even where this data dir had one that is now missing (explicit init). */
  forceCreate?: boolean;
  /** Where the store reports a removed/replaced file or failing writes (loudly, once per change). */
  logger?: Logger;
};

/** DATA_DIR/chat.sqlite is missing, but a database was created there before: refuse to start empty. */
export class StoreMissingError extends Error {}

type FileIdentity = { dev: number; ino: number };

/**
 * The embedded store: one SQLite file under DATA_DIR (or `:memory:`), WAL so readers never
 * block the single writer, shared by several processes (API instances, persist workers).
 * Beside the file, `<file>.created` records that a database was made here, so a process
 * started after the file was lost refuses to create an empty one in its place; and every
 * write checks the file is still the one that was opened (not deleted or replaced).
 */
export class SqliteStore implements Store {
  readonly #db: DatabaseSync;
  readonly #file: string;
  readonly #stmts = new Map<string, StatementSync>();
  readonly #lockWaitMs: number;
  readonly #logger: Logger | undefined;
  readonly #identity: FileIdentity | undefined;
  /** The last write failure that was not lock contention; cleared by the next successful write. */
  #writeFailure: Error | undefined;
  #fileProblem: string | undefined;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.#file = file;
    this.#lockWaitMs = options.lockWaitMs ?? 10_000;
    this.#logger = options.logger;
    const marker = `${file}.created`;
    if (file !== ":memory:") {
      mkdirSync(path.dirname(file), { recursive: true });
      if (!existsSync(file) && existsSync(marker) && !options.forceCreate) {
        throw new StoreMissingError(
          `${file} is missing, but a database was created there on ${readFileSync(marker, "utf8").trim()}. ` +
            "Restore the file (it holds every stored message), or start over with `npm run store:init -- --force`.",
        );
      }
    }
    // Opening and migrating may wait on another process's lock: blocking is fine at boot.
    this.#db = new DatabaseSync(file, { timeout: this.#lockWaitMs });
    this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
    this.#migrate();
    this.#db.exec("PRAGMA busy_timeout = 0");
    if (file !== ":memory:") {
      if (!existsSync(marker)) writeFileSync(marker, `${new Date().toISOString()}\n`);
      this.#identity = this.#statFile();
    }
  }

  #statFile(): FileIdentity | undefined {
    const st = statSync(this.#file, { throwIfNoEntry: false });
    return st ? { dev: st.dev, ino: st.ino } : undefined;
  }

  /** Throws while the file this connection writes to is no longer the one at the path. */
  #checkFile(): void {
    if (!this.#identity) return;
    const now = this.#statFile();
    const problem = !now
      ? "was removed"
      : now.dev !== this.#identity.dev || now.ino !== this.#identity.ino
        ? "was replaced by another file"
        : undefined;
    if (problem !== this.#fileProblem) {
      this.#fileProblem = problem;
      if (problem) {
        this.#logger?.fatal(
          { file: this.#file },
          `database file ${problem} while open: writes are refused (nothing is lost: they retry) until it is restored`,
        );
      } else this.#logger?.warn({ file: this.#file }, "database file is back; writes resume");
    }
    if (problem)
      throw new StoreUnavailableError(`database file ${this.#file} ${problem}`, { retryAfterS: 5 });
  }

  #migrate(): void {
    this.#tx(() => {
      const row = this.#db.prepare("PRAGMA user_version").get();
      const version = num(row?.user_version ?? 0);
      for (let v = version; v < migrations.length; v++) {
        this.#db.exec(migrations[v] ?? "");
        this.#db.exec(`PRAGMA user_version = ${v + 1}`);
      }
    });
  }

  #stmt(sql: string): StatementSync {
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  /**
   * BEGIN IMMEDIATE takes the write lock up front, so writers fail at BEGIN (and are retried)
   * instead of deadlocking on upgrade. A failed BEGIN opened nothing: roll back only an open
   * transaction, and always rethrow the original error (classified), never the rollback's.
   */
  #tx<T>(fn: () => T): T {
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (err) {
      if (this.#db.isTransaction) {
        try {
          this.#db.exec("ROLLBACK");
        } catch {
          // The original error below says what went wrong.
        }
      }
      throw classify(err);
    }
  }

  /** A write transaction, retried on timers while another connection holds the lock. */
  async #write<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.#lockWaitMs;
    let delay = 2;
    for (;;) {
      try {
        this.#checkFile();
        const out = this.#tx(fn);
        if (this.#writeFailure) this.#logger?.warn("database writes succeed again");
        this.#writeFailure = undefined;
        return out;
      } catch (err) {
        if (err instanceof StoreUnavailableError && isBusy(err.cause) && Date.now() < deadline) {
          await sleep(delay + Math.random() * delay);
          delay = Math.min(delay * 2, 100);
          continue;
        }
        if (err instanceof StoreUnavailableError && !isBusy(err.cause) && err.cause !== undefined) {
          if (!this.#writeFailure) this.#logger?.error({ err: err.message }, "database write failed");
          this.#writeFailure = err;
        }
        throw err;
      }
    }
  }

  /** A read; in WAL mode it rarely meets a lock (recovery, checkpoint restart), and then waits the same way. */
  async #read<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + this.#lockWaitMs;
    let delay = 2;
    for (;;) {
      try {
        return fn();
      } catch (err) {
        if (isBusy(err) && Date.now() < deadline) {
          await sleep(delay + Math.random() * delay);
          delay = Math.min(delay * 2, 100);
          continue;
        }
        throw classify(err);
      }
    }
  }

  #room(row: Row): RoomRecord {
    return {
      id: str(row.id),
      type: row.type === "direct" ? "direct" : "group",
      name: strOrNull(row.name),
      description: strOrNull(row.description),
      avatar_media_id: strOrNull(row.avatar_media_id),
      created_by: str(row.created_by),
      created_at: str(row.created_at),
      updated_at: str(row.updated_at),
      direct_key: strOrNull(row.direct_key),
      members_count: num(row.members_count),
      last_seq: num(row.last_seq),
      last_activity_at: str(row.last_activity_at),
      last_message:
        row.m_id === null || row.m_id === undefined
          ? null
          : this.#message({
              id: row.m_id,
              room_id: row.id,
              seq: row.m_seq,
              sender_id: row.m_sender_id,
              client_id: row.m_client_id,
              type: row.m_type,
              text: row.m_text,
              media_id: row.m_media_id,
              reply_to_id: row.m_reply_to_id,
              mentions: row.m_mentions,
              created_at: row.m_created_at,
            }),
    };
  }

  #member(row: Row): MemberRecord {
    return {
      room_id: str(row.room_id),
      user_id: str(row.user_id),
      role: row.role === "admin" ? "admin" : "member",
      joined_at: str(row.joined_at),
      read_seq: num(row.read_seq),
    };
  }

  #message(row: Row): MessageRecord {
    return {
      id: str(row.id),
      room_id: str(row.room_id),
      seq: num(row.seq),
      sender_id: str(row.sender_id),
      client_id: str(row.client_id),
      type: str(row.type) as MessageType,
      text: strOrNull(row.text),
      media_id: strOrNull(row.media_id),
      reply_to_id: strOrNull(row.reply_to_id),
      mentions: JSON.parse(str(row.mentions)) as string[],
      created_at: str(row.created_at),
    };
  }

  async ping(): Promise<void> {
    this.#checkFile();
    await this.#read(() => this.#stmt("SELECT 1").get());
    // After a failed write, readiness needs a write that succeeds (the disk may still be full).
    if (this.#writeFailure) {
      await this.#write(() =>
        this.#stmt(
          "INSERT INTO health (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        ).run(new Date().toISOString()),
      );
    }
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }

  #insertRoom(room: NewRoom): boolean {
    const res = this.#stmt(
      `INSERT INTO rooms (id, type, name, description, avatar_media_id, created_by, created_at, updated_at,
         direct_key, last_activity_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (direct_key) DO NOTHING`,
    ).run(
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
    const stmt = this.#stmt("INSERT INTO members (room_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)");
    for (const m of members) stmt.run(roomId, m.user_id, m.role, m.joined_at);
  }

  #getRoom(roomId: string): RoomRecord | null {
    const row = this.#stmt(
      `SELECT ${ROOM_COLUMNS} FROM rooms r LEFT JOIN messages m ON m.id = r.last_message_id WHERE r.id = ?`,
    ).get(roomId);
    return row ? this.#room(row) : null;
  }

  async createGroupRoom(room: NewRoom, members: NewMember[]): Promise<RoomRecord> {
    return this.#write(() => {
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
    return this.#write(() => {
      const created = this.#insertRoom(room);
      if (created) this.#insertMembers(room.id, members);
      const row = this.#stmt("SELECT id FROM rooms WHERE direct_key = ?").get(room.direct_key);
      const existing = row ? this.#getRoom(str(row.id)) : null;
      if (!existing) throw new Error("direct room vanished inside its own transaction");
      return { room: existing, created };
    });
  }

  async getRoom(roomId: string): Promise<RoomRecord | null> {
    return this.#read(() => this.#getRoom(roomId));
  }

  async listRoomsForUser(userId: string, limit: number, after?: ActivityCursor): Promise<RoomForUser[]> {
    const params: SQLInputValue[] = [userId];
    let where = "";
    if (after) {
      where = "AND (r.last_activity_at < ? OR (r.last_activity_at = ? AND r.id < ?))";
      params.push(after.last_activity_at, after.last_activity_at, after.id);
    }
    params.push(limit);
    const rows = await this.#read(() =>
      this.#stmt(
        `SELECT ${ROOM_COLUMNS}, me.role AS me_role, me.joined_at AS me_joined_at, me.read_seq AS me_read_seq
       FROM members me JOIN rooms r ON r.id = me.room_id LEFT JOIN messages m ON m.id = r.last_message_id
       WHERE me.user_id = ? ${where}
       ORDER BY r.last_activity_at DESC, r.id DESC LIMIT ?`,
      ).all(...params),
    );
    return rows.map((row) => ({
      room: this.#room(row),
      member: this.#member({
        room_id: row.id,
        user_id: userId,
        role: row.me_role,
        joined_at: row.me_joined_at,
        read_seq: row.me_read_seq,
      }),
    }));
  }

  async getMembers(roomId: string): Promise<MemberRecord[]> {
    const rows = await this.#read(() =>
      this.#stmt("SELECT * FROM members WHERE room_id = ? ORDER BY joined_at, user_id").all(roomId),
    );
    return rows.map((r) => this.#member(r));
  }

  async getMember(roomId: string, userId: string): Promise<MemberRecord | null> {
    const row = await this.#read(() =>
      this.#stmt("SELECT * FROM members WHERE room_id = ? AND user_id = ?").get(roomId, userId),
    );
    return row ? this.#member(row) : null;
  }

  async listMemberIds(roomId: string): Promise<string[]> {
    const rows = await this.#read(() =>
      this.#stmt("SELECT user_id FROM members WHERE room_id = ?").all(roomId),
    );
    return rows.map((r) => str(r.user_id));
  }

  async listRoomIdsForUser(userId: string): Promise<string[]> {
    const rows = await this.#read(() =>
      this.#stmt("SELECT room_id FROM members WHERE user_id = ?").all(userId),
    );
    return rows.map((r) => str(r.room_id));
  }

  async insertMessages(messages: MessageRecord[]): Promise<void> {
    if (messages.length === 0) return;
    const insert = this.#stmt(
      `INSERT INTO messages (id, room_id, seq, sender_id, client_id, type, text, media_id, reply_to_id, mentions, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    );
    const advanceRoom = this.#stmt(
      `UPDATE rooms SET last_seq = ?, last_message_id = ?, last_activity_at = max(last_activity_at, ?)
       WHERE id = ? AND last_seq < ?`,
    );
    const advanceReader = this.#stmt(
      "UPDATE members SET read_seq = ? WHERE room_id = ? AND user_id = ? AND read_seq < ?",
    );
    const roomExists = this.#stmt("SELECT 1 AS ok FROM rooms WHERE id = ?");
    await this.#write(() => {
      // One room and one reader update per batch, not per message.
      const newestByRoom = new Map<string, MessageRecord>();
      const readerSeq = new Map<string, { room: string; user: string; seq: number }>();
      for (const m of messages) {
        if (!roomExists.get(m.room_id)) throw new StoreRejectedError(`room ${m.room_id} does not exist`);
        const res = insert.run(
          m.id,
          m.room_id,
          m.seq,
          m.sender_id,
          m.client_id,
          m.type,
          m.text,
          m.media_id,
          m.reply_to_id,
          JSON.stringify(m.mentions),
          m.created_at,
        );
        if (Number(res.changes) === 0) continue;
        const newest = newestByRoom.get(m.room_id);
        if (!newest || newest.seq < m.seq) newestByRoom.set(m.room_id, m);
        const key = `${m.room_id}|${m.sender_id}`;
        if ((readerSeq.get(key)?.seq ?? 0) < m.seq)
          readerSeq.set(key, { room: m.room_id, user: m.sender_id, seq: m.seq });
      }
      for (const m of newestByRoom.values()) advanceRoom.run(m.seq, m.id, m.created_at, m.room_id, m.seq);
      for (const r of readerSeq.values()) advanceReader.run(r.seq, r.room, r.user, r.seq);
    });
  }

  async getMessage(messageId: string): Promise<MessageRecord | null> {
    const row = await this.#read(() => this.#stmt("SELECT * FROM messages WHERE id = ?").get(messageId));
    return row ? this.#message(row) : null;
  }

  async getMessageByClientId(senderId: string, clientId: string): Promise<MessageRecord | null> {
    const row = await this.#read(() =>
      this.#stmt("SELECT * FROM messages WHERE sender_id = ? AND client_id = ?").get(senderId, clientId),
    );
    return row ? this.#message(row) : null;
  }

  async listMessages(roomId: string, q: HistoryQuery): Promise<MessageRecord[]> {
    if (q.afterSeq !== undefined) {
      const upper = q.beforeSeq ?? Number.MAX_SAFE_INTEGER;
      const after = q.afterSeq;
      const rows = await this.#read(() =>
        this.#stmt(
          "SELECT * FROM messages WHERE room_id = ? AND seq > ? AND seq < ? ORDER BY seq ASC LIMIT ?",
        ).all(roomId, after, upper, q.limit),
      );
      return rows.map((r) => this.#message(r));
    }
    const before = q.beforeSeq ?? Number.MAX_SAFE_INTEGER;
    const rows = await this.#read(() =>
      this.#stmt("SELECT * FROM messages WHERE room_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?").all(
        roomId,
        before,
        q.limit,
      ),
    );
    return rows.map((r) => this.#message(r)).reverse();
  }

  async maxSeq(roomId: string): Promise<number> {
    const row = await this.#read(() =>
      this.#stmt("SELECT max(seq) AS s FROM messages WHERE room_id = ?").get(roomId),
    );
    return num(row?.s ?? 0);
  }
}
