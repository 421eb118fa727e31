import { renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { openSqliteStore, StoreMissingError } from "../../src/store/sqlite/sqlite.store.ts";
import type { Store } from "../../src/store/store.ts";
import { StoreUnavailableError } from "../../src/store/store.ts";
import { room } from "../contract/fixtures.ts";
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
