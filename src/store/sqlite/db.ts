import { existsSync, mkdirSync, readFileSync, type Stats, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { pathToFileURL } from "node:url";
import type { Logger } from "../../observability/logger.ts";
import { StoreRejectedError, StoreUnavailableError } from "../store.ts";
import { migrations } from "./migrations.ts";

const num = (v: unknown): number => Number(v);

/** Primary result codes (https://sqlite.org/rescode.html); extended codes keep them in the low byte. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_CORRUPT = 11;
const SQLITE_CONSTRAINT = 19;
const SQLITE_NOTADB = 26;
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

/**
 * BEGIN IMMEDIATE takes the write lock up front, so writers fail at BEGIN (and are retried)
 * instead of deadlocking on upgrade. A failed BEGIN opened nothing: roll back only an open
 * transaction, and always rethrow the original error (classified), never the rollback's.
 */
function transaction<T>(db: DatabaseSync, fn: () => T): T {
  try {
    db.exec("BEGIN IMMEDIATE");
    const out = fn();
    db.exec("COMMIT");
    return out;
  } catch (err) {
    if (db.isTransaction) {
      try {
        db.exec("ROLLBACK");
      } catch {
        // The original error below says what went wrong.
      }
    }
    throw classify(err);
  }
}

const schemaVersion = (db: DatabaseSync) => num(db.prepare("PRAGMA user_version").get()?.user_version ?? 0);

/** WAL, and the migrations this code has that the file lacks (the write lock only when some are). */
function setUp(db: DatabaseSync): void {
  db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
  if (schemaVersion(db) >= migrations.length) return;
  transaction(db, () => {
    for (let v = schemaVersion(db); v < migrations.length; v++) {
      db.exec(migrations[v] ?? "");
      db.exec(`PRAGMA user_version = ${v + 1}`);
    }
  });
}

/**
 * Why a file that appeared at the path is not a chat database this code can open, read without
 * changing it. SQLite itself refuses random bytes (NOTADB) and a file shorter than its header
 * says (CORRUPT: a copy still being written); `PRAGMA quick_check` would read the whole file,
 * blocking the event loop for as long in every process, so checking a backup is the operator's.
 */
function notAChatDatabase(db: DatabaseSync): string | undefined {
  try {
    const version = schemaVersion(db);
    db.prepare("SELECT count(*) FROM sqlite_schema").get();
    if (version === 0) return "holds no chat database (empty, or not made by this server)";
    if (version > migrations.length)
      return `has schema version ${version}, newer than this code's ${migrations.length}`;
    return undefined;
  } catch (err) {
    const code = sqliteCode(err);
    const reason = err instanceof Error ? err.message : String(err);
    if (code === SQLITE_NOTADB) return `is not a SQLite database (${reason})`;
    if (code === SQLITE_CORRUPT)
      return `is damaged or incomplete (${reason}): if it is still being copied, copy it under a temporary name and rename it into place`;
    throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Reads compare the path with the open file at most this often (a stat costs a tenth of a read). */
const READ_CHECK_MS = 1000;

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
const identityOf = (file: string): FileIdentity | undefined => {
  const st = statSync(file, { throwIfNoEntry: false });
  return st ? { dev: st.dev, ino: st.ino } : undefined;
};
const sameFile = (a: FileIdentity | undefined, b: FileIdentity | undefined) =>
  a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;

/** The WAL and its index beside the file: SQLite finds them by the database's path, not its inode. */
const SIDECARS = ["-wal", "-shm"];
type Sidecar = { file: string; identity: FileIdentity | undefined };

/** Why the path cannot be used now; `cause` set when it is only for now (another process's lock). */
type FileProblem = { problem: string; cause?: unknown };

/**
 * One connection to the embedded database: one SQLite file under DATA_DIR (or `:memory:`),
 * WAL so readers never block the single writer, shared by several processes (API instances,
 * persist workers). Beside the file, `<file>.created` records that a database was made here,
 * so a process started after the file was lost refuses to create an empty one in its place.
 * Every write and readiness check (and a read, once a second) first checks the file at the path
 * is still the one that was opened: while it is missing, or replaced by something that is not a
 * chat database, writes and readiness are refused (reads go on from the open file); a valid
 * replacement (a restore) is opened instead, between operations. So the port adapters (rooms, messages, message state) take statements
 * with `stmt` inside `read`/`write` only, and never keep them across operations.
 */
export class SqliteDb {
  #db: DatabaseSync;
  readonly #file: string;
  readonly #stmts = new Map<string, StatementSync>();
  readonly #lockWaitMs: number;
  readonly #logger: Logger | undefined;
  #identity: FileIdentity | undefined;
  #sidecars: Sidecar[] = [];
  /** The last replacement refused (by inode, size and mtime, so a changed file is looked at again). */
  #refused: { key: string; problem: string } | undefined;
  /** Operations running (synchronously) now: statements are handed out only inside one. */
  #depth = 0;
  /** The last write failure that was not lock contention; cleared by the next successful write. */
  #writeFailure: Error | undefined;
  #fileProblem: string | undefined;
  #checkedAt = 0;

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
    // Processes starting together on a new file race to set it up, and SQLite may answer one of
    // them "locked" at once instead of waiting on the busy timeout (switching to WAL): wait and
    // set up again, within the same lock wait.
    const deadline = Date.now() + this.#lockWaitMs;
    for (;;) {
      try {
        setUp(this.#db);
        break;
      } catch (err) {
        const busy = isBusy(err) || (err instanceof StoreUnavailableError && isBusy(err.cause));
        if (!busy || Date.now() >= deadline) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
    this.#db.exec("PRAGMA busy_timeout = 0");
    if (file !== ":memory:") {
      if (!existsSync(marker)) writeFileSync(marker, `${new Date().toISOString()}\n`);
      this.#identity = identityOf(file);
      this.#sidecars = this.#sidecarsNow();
    }
  }

  #sidecarsNow(): Sidecar[] {
    return SIDECARS.map((suffix) => ({
      file: `${this.#file}${suffix}`,
      identity: identityOf(`${this.#file}${suffix}`),
    }));
  }

  /**
   * Compares the path's inode with the open file's, and opens a valid replacement instead.
   * Returns why the path cannot be used, logging each change once.
   */
  #checkFile(): FileProblem | undefined {
    if (!this.#identity) return undefined;
    this.#checkedAt = performance.now();
    const st = statSync(this.#file, { throwIfNoEntry: false });
    let found: FileProblem | undefined;
    if (!st) found = { problem: "was removed" };
    else if (st.dev !== this.#identity.dev || st.ino !== this.#identity.ino) {
      try {
        found = this.#reopen(st);
      } catch (err) {
        const cause = err instanceof StoreUnavailableError && err.cause !== undefined ? err.cause : err;
        // Another process holds the new file's lock (setting it up too): not worth a log line.
        if (isBusy(cause))
          return { problem: "was replaced, and another process is setting up the new file", cause };
        const reason = cause instanceof Error ? cause.message : String(cause);
        found = { problem: `was replaced, but the new file cannot be opened (${reason})` };
      }
    }
    if (found?.problem !== this.#fileProblem) {
      if (found) {
        this.#logger?.fatal(
          { file: this.#file },
          `database file ${found.problem}: writes are refused (nothing is lost: they retry) until a valid one is in place`,
        );
      } else if (this.#fileProblem)
        this.#logger?.warn({ file: this.#file }, "database file is back; writes resume");
      this.#fileProblem = found?.problem;
    }
    return found;
  }

  /**
   * The file at the path is another one (a restore): open it if it is a chat database, then
   * close the old connection. Runs between operations (each is synchronous), so no transaction
   * is open; the statement cache belonged to the old connection and starts over.
   * Throws while only another process's lock stands in the way.
   */
  #reopen(st: Stats): FileProblem | undefined {
    // SQLite finds the WAL and its index by path: it would take the old file's for the new
    // file's, and checkpoint the old pages into it. Looked at each time (moving them is the fix).
    const stale = this.#sidecars.filter((s) => sameFile(identityOf(s.file), s.identity));
    if (stale.length > 0) {
      return {
        problem:
          `was replaced, but ${stale.map((s) => path.basename(s.file)).join(" and ")} beside it belong to the old file ` +
          "(SQLite would apply them to the new one): move them away too",
      };
    }
    const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
    if (this.#refused?.key === key) return { problem: this.#refused.problem };
    const refuse = (problem: string) => {
      this.#refused = { key, problem };
      return { problem };
    };
    // mode=rw: never create a database where the path just went empty again.
    const url = pathToFileURL(this.#file);
    url.searchParams.set("mode", "rw");
    let next: DatabaseSync;
    try {
      next = new DatabaseSync(url);
    } catch (err) {
      throw classify(err);
    }
    try {
      const problem = notAChatDatabase(next);
      if (problem) {
        next.close();
        return refuse(`was replaced by a file that ${problem}`);
      }
      setUp(next);
      if (!sameFile(identityOf(this.#file), { dev: st.dev, ino: st.ino }))
        throw new StoreUnavailableError("the file changed again while being opened");
    } catch (err) {
      next.close();
      throw classify(err);
    }
    const old = this.#db;
    this.#db = next;
    this.#stmts.clear();
    this.#identity = { dev: st.dev, ino: st.ino };
    this.#sidecars = this.#sidecarsNow();
    this.#refused = undefined;
    this.#writeFailure = undefined;
    // SQLite sees the old file moved: closing neither checkpoints into it nor deletes the WAL
    // and index at the path, which are the new file's now.
    old.close();
    this.#logger?.warn(
      { file: this.#file, schemaVersion: schemaVersion(next) },
      "database file was replaced by a valid chat database (a restore?): opened it, no restart needed",
    );
    this.#fileProblem = undefined;
    return undefined;
  }

  stmt(sql: string): StatementSync {
    // A statement kept past its operation could outlive the connection (a restored file is reopened).
    if (this.#depth === 0) throw new Error("SqliteDb.stmt is for use inside read() or write() only");
    let s = this.#stmts.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#stmts.set(sql, s);
    }
    return s;
  }

  #inOperation<T>(fn: () => T): T {
    this.#depth++;
    try {
      return fn();
    } finally {
      this.#depth--;
    }
  }

  /** Throws StoreUnavailableError while the path holds no usable database. */
  #requireFile(): void {
    const found = this.#checkFile();
    if (found)
      throw new StoreUnavailableError(`database file ${this.#file} ${found.problem}`, {
        cause: found.cause,
        retryAfterS: 5,
      });
  }

  /** Runs `fn` inside a savepoint of the current transaction; a throw undoes only its writes. */
  savepoint<T>(fn: () => T): T {
    this.stmt("SAVEPOINT one").run();
    try {
      const out = fn();
      this.stmt("RELEASE one").run();
      return out;
    } catch (err) {
      this.stmt("ROLLBACK TO one").run();
      this.stmt("RELEASE one").run();
      throw classify(err);
    }
  }

  /** A write transaction, retried on timers while another connection holds the lock. */
  async write<T>(fn: () => T): Promise<T> {
    try {
      const out = await this.#whileLocked(() => {
        this.#requireFile();
        return this.#inOperation(() => transaction(this.#db, fn));
      });
      if (this.#writeFailure) this.#logger?.warn("database writes succeed again");
      this.#writeFailure = undefined;
      return out;
    } catch (err) {
      if (err instanceof StoreUnavailableError && !isBusy(err.cause) && err.cause !== undefined) {
        if (!this.#writeFailure) this.#logger?.error({ err: err.message }, "database write failed");
        this.#writeFailure = err;
      }
      throw err;
    }
  }

  /**
   * A read; in WAL mode it rarely meets a lock (recovery, checkpoint restart), and then waits the
   * same way. While the path holds no usable database, reads go on from the file still open; a
   * restored file is taken by the next write or readiness check, or a read within a second.
   */
  async read<T>(fn: () => T): Promise<T> {
    return this.#whileLocked(() => {
      if (performance.now() - this.#checkedAt >= READ_CHECK_MS) this.#checkFile();
      try {
        return this.#inOperation(fn);
      } catch (err) {
        throw classify(err);
      }
    });
  }

  /**
   * Runs `attempt` (which throws classified errors) again on timers, 2 ms doubling to 100 ms,
   * while another connection holds the lock, for up to the lock wait.
   */
  async #whileLocked<T>(attempt: () => T): Promise<T> {
    const deadline = Date.now() + this.#lockWaitMs;
    let delay = 2;
    for (;;) {
      try {
        return attempt();
      } catch (err) {
        if (!(err instanceof StoreUnavailableError && isBusy(err.cause)) || Date.now() >= deadline) throw err;
        await sleep(delay + Math.random() * delay);
        delay = Math.min(delay * 2, 100);
      }
    }
  }

  async ping(): Promise<void> {
    this.#requireFile();
    await this.read(() => this.stmt("SELECT 1").get());
    // After a failed write, readiness needs a write that succeeds (the disk may still be full).
    if (this.#writeFailure) {
      await this.write(() =>
        this.stmt(
          "INSERT INTO health (id, checked_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        ).run(new Date().toISOString()),
      );
    }
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
