import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { backup, DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.ts";
import { SqliteDb } from "../../src/store/sqlite/db.ts";
import { migrations } from "../../src/store/sqlite/migrations.ts";
import { openSqliteStore, StoreMissingError } from "../../src/store/sqlite/sqlite.store.ts";
import type { Store } from "../../src/store/store.ts";
import { StoreUnavailableError } from "../../src/store/store.ts";
import { msg, room } from "../contract/fixtures.ts";
import { removeDir, tempDir } from "../helpers/env.ts";
import { mountSmallDisk } from "../helpers/small-disk.ts";

const dir = tempDir("sqlite-fail");
afterAll(() => removeDir(dir));
let n = 0;
const file = () => path.join(dir, `f${n++}.sqlite`);

const now = new Date().toISOString();
const group = () => room({ created_at: now, updated_at: now });
const create = (s: Store) => s.createGroupRoom(group(), [{ user_id: "u1", role: "admin", joined_at: now }]);

/** Largest gap between timer ticks while `work` runs: a blocked event loop shows up here. */
async function maxLoopGap<T>(work: Promise<T>): Promise<{ result: PromiseSettledResult<T>; gapMs: number }> {
  let last = performance.now();
  let gapMs = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    gapMs = Math.max(gapMs, t - last);
    last = t;
  }, 5);
  const [result] = await Promise.allSettled([work]);
  clearInterval(timer);
  return { result, gapMs };
}

describe("a write lock held by another connection", () => {
  it("is waited for on timers, not by blocking the event loop, and the write then succeeds", async () => {
    const f = file();
    const store = openSqliteStore(f, { lockWaitMs: 5000 });
    const other = new DatabaseSync(f);
    other.exec("BEGIN IMMEDIATE");
    setTimeout(() => other.exec("COMMIT"), 400);
    const { result, gapMs } = await maxLoopGap(create(store));
    expect(result.status).toBe("fulfilled");
    expect(gapMs).toBeLessThan(100);
    other.close();
    await store.close();
  });

  it("fails with StoreUnavailableError (the lock, not 'cannot rollback') once it outlasts the wait", async () => {
    const f = file();
    const store = openSqliteStore(f, { lockWaitMs: 300 });
    const other = new DatabaseSync(f);
    other.exec("BEGIN IMMEDIATE");
    const started = Date.now();
    const err = await create(store).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(/locked/);
    expect((err as Error).message).not.toMatch(/rollback/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    // Contention is not a broken store: readiness stays fine.
    await expect(store.ping()).resolves.toBeUndefined();
    other.exec("ROLLBACK");
    await expect(create(store)).resolves.toBeDefined();
    other.close();
    await store.close();
  });
});

describe("a database file removed or replaced while open", () => {
  it("refuses writes and readiness while the file is gone, and resumes when it is back", async () => {
    const f = file();
    const store = openSqliteStore(f);
    const room = await create(store);
    renameSync(f, `${f}.moved`);
    await expect(store.ping()).rejects.toThrow(/removed/);
    await expect(store.insertMessages([])).resolves.toEqual({ rejected: [] }); // nothing to write
    await expect(create(store)).rejects.toBeInstanceOf(StoreUnavailableError);
    renameSync(`${f}.moved`, f);
    await expect(store.ping()).resolves.toBeUndefined();
    await expect(create(store)).resolves.toBeDefined();
    expect(await store.getRoom(room.id)).not.toBeNull();
    await store.close();
  });

  it("notices a different file at the path", async () => {
    const f = file();
    const store = openSqliteStore(f);
    await create(store);
    renameSync(f, `${f}.old`);
    writeFileSync(f, "");
    await expect(store.ping()).rejects.toThrow(/replaced/);
    await expect(create(store)).rejects.toBeInstanceOf(StoreUnavailableError);
    await store.close();
  });

  it("will not create an empty database where one existed, unless told to", async () => {
    const f = file();
    const first = openSqliteStore(f);
    await create(first);
    await first.close();
    rmSync(f);
    expect(() => openSqliteStore(f)).toThrow(StoreMissingError);
    expect(() => openSqliteStore(f)).toThrow(/store:init/);
    const fresh = openSqliteStore(f, { forceCreate: true });
    await expect(create(fresh)).resolves.toBeDefined();
    await fresh.close();
    // A fresh data dir needs no init.
    await openSqliteStore(file()).close();
  });
});

/** A store whose log lines are kept, to count them. */
function loggedStore(f: string) {
  const lines: { level: number; msg: string }[] = [];
  const logger = createLogger("info", "sqlite-test", {
    write: (s: string) => void lines.push(JSON.parse(s)),
  });
  return { store: openSqliteStore(f, { logger }), lines };
}
const WARN = 40;

/** A backup taken with SQLite's online backup (WAL mode, like `sqlite3 .backup`). */
async function backUp(f: string): Promise<string> {
  const out = `${f}.backup`;
  const src = new DatabaseSync(f);
  await backup(src, out);
  src.close();
  return out;
}

/** What an operator's delete does: the file, its WAL and its index. */
const removeAll = (f: string) => {
  for (const suffix of ["", "-wal", "-shm"]) rmSync(`${f}${suffix}`, { force: true });
};

/** The documented restore: a copy under a temporary name in the same directory, renamed into place. */
function restore(from: string, f: string): void {
  copyFileSync(from, `${f}.restoring`);
  renameSync(`${f}.restoring`, f);
}

/** What a process started now would see in the file. */
function roomIdsOnDisk(f: string): string[] {
  const db = new DatabaseSync(f, { readOnly: true });
  const ids = db
    .prepare("SELECT id FROM rooms")
    .all()
    .map((r) => String(r.id));
  db.close();
  return ids;
}

describe("a database file restored while the processes run", () => {
  it("is reopened by itself: writes wait while it is missing, then the restored data is read and written", async () => {
    const f = file();
    const { store, lines } = loggedStore(f);
    const kept = await create(store);
    const copy = await backUp(f);
    const lost = await create(store);
    const before = statSync(f).ino;
    removeAll(f);
    await expect(store.ping()).rejects.toThrow(/removed/);
    await expect(create(store)).rejects.toBeInstanceOf(StoreUnavailableError);
    // Reads go on from the file still open (the data as it was).
    expect(await store.getRoom(lost.id)).not.toBeNull();
    restore(copy, f);
    expect(statSync(f).ino).not.toBe(before);
    // Reads alone take the restored file too (they look at the path once a second).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await store.getRoom(lost.id)).toBeNull(); // the restored state: after the backup is gone
    expect(await store.getRoom(kept.id)).not.toBeNull();
    await expect(store.ping()).resolves.toBeUndefined();
    const after = await create(store);
    const sent = msg(after.id, 1);
    await expect(store.insertMessages([sent])).resolves.toEqual({ rejected: [] });
    expect(await store.getMessage(sent.id)).not.toBeNull();
    expect(roomIdsOnDisk(f).sort()).toEqual([kept.id, after.id].sort());
    const reopened = lines.filter((l) => /no restart needed/.test(l.msg));
    expect(reopened).toHaveLength(1);
    expect(reopened[0]?.level).toBe(WARN);
    await store.close();
  });

  it("lets a write waiting on the old file's lock land in the restored file, on statements prepared anew", async () => {
    const f = file();
    const store = openSqliteStore(f, { lockWaitMs: 5000 });
    const r = await create(store);
    await store.insertMessages([msg(r.id, 1)]);
    const copy = await backUp(f);
    const other = new DatabaseSync(f);
    other.exec("BEGIN IMMEDIATE");
    // The insert meets the old file's lock and retries on timers; the file is swapped meanwhile.
    const pending = store.insertMessages([msg(r.id, 2)]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    removeAll(f);
    restore(copy, f);
    await expect(pending).resolves.toEqual({ rejected: [] });
    other.exec("ROLLBACK");
    other.close();
    const onDisk = new DatabaseSync(f, { readOnly: true });
    expect(
      onDisk
        .prepare("SELECT seq FROM messages ORDER BY seq")
        .all()
        .map((m) => m.seq),
    ).toEqual([1, 2]);
    onDisk.close();
    await store.close();
  });

  it("takes a VACUUM INTO copy (rollback journal) too, and turns it to WAL", async () => {
    const f = file();
    const store = openSqliteStore(f);
    const kept = await create(store);
    const copy = `${f}.vacuumed`;
    const src = new DatabaseSync(f);
    src.exec(`VACUUM INTO '${copy}'`);
    src.close();
    removeAll(f);
    restore(copy, f);
    expect(await store.getRoom(kept.id)).not.toBeNull();
    await expect(create(store)).resolves.toBeDefined();
    expect(readFileSync(f)[18]).toBe(2); // the header's "WAL" write version
    await store.close();
  });

  it("does not take the restored file's WAL from it when the last connection to the old file closes", async () => {
    const f = file();
    const first = openSqliteStore(f);
    const second = openSqliteStore(f);
    await create(first);
    const copy = await backUp(f);
    removeAll(f);
    restore(copy, f);
    await expect(first.ping()).resolves.toBeUndefined();
    const made = await create(first); // in the new file's WAL, not yet checkpointed
    const wal = statSync(`${f}-wal`);
    expect(wal.size).toBeGreaterThan(0);
    // `second` now closes the last connection to the old file: SQLite must not checkpoint or
    // delete by path what is the restored file's.
    await expect(second.ping()).resolves.toBeUndefined();
    expect(statSync(`${f}-wal`).ino).toBe(wal.ino);
    expect(await second.getRoom(made.id)).not.toBeNull();
    expect(roomIdsOnDisk(f)).toContain(made.id);
    await first.close();
    await second.close();
  });

  it("refuses a restored file while the old file's WAL and index are beside it, and opens it once they are moved", async () => {
    const f = file();
    const store = openSqliteStore(f);
    const kept = await create(store);
    const copy = await backUp(f);
    const lost = await create(store);
    restore(copy, f); // renamed over the live file: its -wal and -shm stay
    await expect(store.ping()).rejects.toThrow(/-wal and .*-shm beside it belong to the old file/);
    await expect(create(store)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.getRoom(lost.id)).not.toBeNull(); // still the old file
    renameSync(`${f}-wal`, `${f}.old-wal`);
    renameSync(`${f}-shm`, `${f}.old-shm`);
    await expect(store.ping()).resolves.toBeUndefined();
    expect(await store.getRoom(kept.id)).not.toBeNull();
    expect(await store.getRoom(lost.id)).toBeNull();
    await store.close();
  });

  const emptySqlite = (to: string) => new DatabaseSync(to).close();
  const truncated = (to: string, copy: string) => writeFileSync(to, readFileSync(copy).subarray(0, 4096));
  const newerSchema = (to: string, copy: string) => {
    copyFileSync(copy, to);
    const db = new DatabaseSync(to);
    db.exec(`PRAGMA user_version = ${migrations.length + 1}`);
    db.close();
  };
  it.each([
    ["random bytes", (to: string) => writeFileSync(to, randomBytes(8192)), /is not a SQLite database/],
    ["an empty SQLite database", emptySqlite, /holds no chat database/],
    ["an empty file", (to: string) => writeFileSync(to, ""), /holds no chat database/],
    ["a copy cut short", truncated, /damaged or incomplete \(database disk image is malformed\)/],
    ["a newer schema", newerSchema, /has schema version \d+, newer than this code's/],
  ])(
    "keeps refusing %s in its place, unchanged, and takes a valid file after",
    async (_name, make, reason) => {
      const f = file();
      const { store, lines } = loggedStore(f);
      const kept = await create(store);
      const copy = await backUp(f);
      removeAll(f);
      make(`${f}.restoring`, copy);
      const bytes = readFileSync(`${f}.restoring`);
      renameSync(`${f}.restoring`, f);
      for (let i = 0; i < 3; i++) {
        await expect(store.ping()).rejects.toThrow(reason);
        await expect(create(store)).rejects.toBeInstanceOf(StoreUnavailableError);
      }
      expect(readFileSync(f).equals(bytes)).toBe(true);
      expect(existsSync(`${f}-wal`)).toBe(false);
      expect(lines.filter((l) => reason.test(l.msg))).toHaveLength(1); // once per change
      expect(await store.getRoom(kept.id)).not.toBeNull(); // reads: the old file
      restore(copy, f);
      await expect(store.ping()).resolves.toBeUndefined();
      await expect(create(store)).resolves.toBeDefined();
      await store.close();
    },
  );

  it("migrates a restored file of an older schema, as a start would", async () => {
    const f = file();
    const store = openSqliteStore(f);
    await create(store);
    const older = `${f}.older`;
    const db = new DatabaseSync(older);
    for (const [v, sql] of migrations.slice(0, -1).entries())
      db.exec(`${sql}; PRAGMA user_version = ${v + 1}`);
    db.close();
    removeAll(f);
    restore(older, f);
    await expect(create(store)).resolves.toBeDefined();
    const after = new DatabaseSync(f, { readOnly: true });
    expect(after.prepare("PRAGMA user_version").get()?.user_version).toBe(migrations.length);
    after.close();
    await store.close();
  });

  it("takes the empty database `store:init -- --force` made in place of a lost one", async () => {
    const f = file();
    const store = openSqliteStore(f);
    const gone = await create(store);
    removeAll(f);
    await openSqliteStore(f, { forceCreate: true }).close(); // what store:init --force does
    await expect(store.ping()).resolves.toBeUndefined();
    expect(await store.getRoom(gone.id)).toBeNull();
    await expect(create(store)).resolves.toBeDefined();
    await store.close();
  });

  it("hands out statements only inside an operation (one kept across could outlive its connection)", async () => {
    const db = new SqliteDb(":memory:");
    expect(() => db.stmt("SELECT 1")).toThrow(/inside read\(\) or write\(\)/);
    await expect(db.read(() => db.stmt("SELECT 1 AS one").get())).resolves.toEqual({ one: 1 });
    await db.close();
  });
});

const disk = mountSmallDisk("1m");
afterAll(() => disk?.unmount());

describe.skipIf(!disk)("a disk that fills up (tmpfs; skipped where mount is not allowed)", () => {
  it("answers StoreUnavailableError with the real cause, fails readiness, and recovers when space is freed", async () => {
    const f = path.join(disk?.dir ?? "", "full.sqlite");
    const store = openSqliteStore(f);
    await create(store);
    disk?.fill();
    const big = "x".repeat(200_000);
    let err: unknown;
    for (let i = 0; i < 20 && !err; i++) {
      const r = await store.createGroupRoom({ ...group(), description: big }, []).catch((e: unknown) => e);
      if (r instanceof Error) err = r;
    }
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(/full/);
    expect((err as Error).message).not.toMatch(/rollback/);
    await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
    disk?.free();
    await expect(store.ping()).resolves.toBeUndefined();
    await expect(create(store)).resolves.toBeDefined();
    await store.close();
  });
});
if (!disk) console.warn("sqlite.failures: cannot mount a tmpfs here; the disk-full test is skipped");
