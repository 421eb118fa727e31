import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { Logger } from "../../observability/logger.ts";
import { StoreRejectedError, StoreUnavailableError } from "../store.ts";
import { migrations } from "./migrations.ts";

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
 * One connection to the embedded database: one SQLite file under DATA_DIR (or `:memory:`),
 * WAL so readers never block the single writer, shared by several processes (API instances,
 * persist workers). Beside the file, `<file>.created` records that a database was made here,
 * so a process started after the file was lost refuses to create an empty one in its place;
 * and every write checks the file is still the one that was opened (not deleted or replaced).
 * The port adapters (rooms, messages, message state) run their statements through it.
 */
export class SqliteDb {
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
    // Processes starting together on a new file race to set it up, and SQLite may answer one of
    // them "locked" at once instead of waiting on the busy timeout (switching to WAL): wait and
    // set up again, within the same lock wait.
    const deadline = Date.now() + this.#lockWaitMs;
    for (;;) {
      try {
        this.#db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;");
        this.#migrate();
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

  stmt(sql: string): StatementSync {
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
        this.#checkFile();
        return this.#tx(fn);
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

  /** A read; in WAL mode it rarely meets a lock (recovery, checkpoint restart), and then waits the same way. */
  async read<T>(fn: () => T): Promise<T> {
    return this.#whileLocked(() => {
      try {
        return fn();
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
    this.#checkFile();
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
