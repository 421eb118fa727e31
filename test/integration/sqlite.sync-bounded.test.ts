import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it, vi } from "vitest";
import { SqliteDb } from "../../src/store/sqlite/db.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import type { MessageOp } from "../../src/store/store.ts";
import { at, members, msg, room } from "../contract/fixtures.ts";
import { removeDir, tempDir } from "../helpers/env.ts";

const dir = tempDir("sqlite-sync-bounded");
afterAll(() => removeDir(dir));

/**
 * A sync page from a cursor far behind must cost the page, not every change since the cursor:
 * the SQL messageChanges runs walks the (room, rev) indexes in order and stops at the limit.
 * Checked on the plan SQLite picks (deterministic, unlike a timing): no temporary B-tree that
 * would gather the whole window (GROUP BY or ORDER BY over it), no table scanned, and the
 * ordered arms merged.
 */
describe("sqlite messageChanges far behind", () => {
  it("reads a page through ordered index walks, never grouping or sorting the window", async () => {
    const file = path.join(dir, "chat.sqlite");
    const store = openSqliteStore(file);
    const r = await store.createGroupRoom(room(), members("u1", "u2"));
    const N = 3000;
    const ms = Array.from({ length: N }, (_, i) => msg(r.id, i + 1));
    await store.insertMessages(ms);
    const ops: MessageOp[] = ms.slice(0, 500).flatMap((m, i): MessageOp[] => {
      const base = { message_id: m.id, room_id: r.id, at: at(0) };
      return [
        { ...base, rev: N + 4 * i + 1, kind: "edit", text: "e" },
        { ...base, rev: N + 4 * i + 2, kind: "react", user_id: "u2", emoji: "x" },
        { ...base, rev: N + 4 * i + 3, kind: "hide", user_id: "u1" },
        { ...base, rev: N + 4 * i + 4, kind: "star", user_id: "u2", starred: true },
      ];
    });
    await store.applyMessageOps(ops);

    const stmt = vi.spyOn(SqliteDb.prototype, "stmt");
    const page = await store.messageChanges(r.id, 0, N + 2000, "u1", 5);
    const sqls = stmt.mock.calls.map(([sql]) => sql);
    stmt.mockRestore();
    // The first 500 messages changed later (their last change for u1 is the hide).
    expect(page).toEqual(ms.slice(500, 505).map((m) => ({ message_id: m.id, rev: m.rev })));
    expect(sqls).toHaveLength(1);
    await store.close();

    const probe = new DatabaseSync(file);
    try {
      const plan = (sql: string) =>
        probe
          .prepare(`EXPLAIN QUERY PLAN ${sql}`)
          .all(r.id, 0, "u1", N + 2000, 5)
          .map((row) => String(row.detail));
      for (const analyzed of [false, true]) {
        if (analyzed) probe.exec("ANALYZE");
        const steps = plan(sqls[0] ?? "");
        expect(steps.filter((s) => /TEMP B-TREE FOR (GROUP BY|ORDER BY|RIGHT PART)/.test(s))).toEqual([]);
        expect(steps.filter((s) => /^SCAN (messages|message_)/.test(s))).toEqual([]);
        expect(steps).toContain("MERGE (UNION ALL)");
      }
    } finally {
      probe.close();
    }
  });
});
