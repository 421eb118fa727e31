import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import type { Store } from "../../src/store/store.ts";
import { runStoreContract } from "../contract/store.contract.ts";
import { removeDir, tempDir } from "../helpers/env.ts";

runStoreContract("sqlite (:memory:)", async () => openSqliteStore(":memory:"));

const dir = tempDir("sqlite");
let n = 0;
runStoreContract("sqlite (file, WAL)", async () => openSqliteStore(path.join(dir, `s${n++}.sqlite`)));
afterAll(() => removeDir(dir));

describe("sqlite file shared by processes", () => {
  it("keeps one direct room per pair across two connections to one file", async () => {
    const file = path.join(dir, "shared.sqlite");
    const [a, b] = [openSqliteStore(file), openSqliteStore(file)];
    const now = new Date().toISOString();
    const make = (s: Store, id: string) =>
      s.getOrCreateDirectRoom(
        {
          id,
          type: "direct",
          name: null,
          description: null,
          avatar_media_id: null,
          created_by: "x",
          created_at: now,
          updated_at: now,
          direct_key: "x|y",
        },
        [
          { user_id: "x", role: "member", joined_at: now },
          { user_id: "y", role: "member", joined_at: now },
        ],
      );
    const [ra, rb] = [await make(a, "R1"), await make(b, "R2")];
    expect(ra.created).toBe(true);
    expect(rb).toMatchObject({ created: false, room: { id: "R1" } });
    // Reopening migrates nothing twice.
    const c = openSqliteStore(file);
    expect(await c.getRoom("R1")).not.toBeNull();
    await Promise.all([a.close(), b.close(), c.close()]);
  });
});
