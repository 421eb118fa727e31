import { describe, expect, it } from "vitest";
import { createCouchbaseStore } from "../../src/store/couchbase/couchbase.store.ts";
import type { MessageOp } from "../../src/store/store.ts";
import { at, members, msg, room } from "../contract/fixtures.ts";
import { FakeCouchbase } from "../helpers/fake-couchbase.ts";

/**
 * A sync page from a cursor far behind reads about its own size from Couchbase, not every
 * change since the cursor: counted as the rows the change queries return (deterministic).
 */
describe("couchbase messageChanges far behind", () => {
  it("reads a bounded number of changes for a page, whatever the changes since the cursor", async () => {
    const fake = new FakeCouchbase();
    const handles = fake.handles();
    let rowsRead = 0;
    const store = createCouchbaseStore(
      {
        collection: handles.collection,
        scope: {
          query: async (statement, options) => {
            const res = await handles.scope.query(statement, options);
            rowsRead += res.rows.length;
            return res;
          },
        },
      },
      { ping: async () => {}, close: async () => {} },
    );
    const r = await store.createGroupRoom(room(), members("u1", "u2"));
    const N = 2000;
    const ms = Array.from({ length: N }, (_, i) => msg(r.id, i + 1));
    for (let i = 0; i < N; i += 500) await store.insertMessages(ms.slice(i, i + 500));
    const ops: MessageOp[] = ms.slice(0, 100).flatMap((m, i): MessageOp[] => {
      const base = { message_id: m.id, room_id: r.id, at: at(0) };
      return [
        { ...base, rev: N + 3 * i + 1, kind: "edit", text: "e" },
        { ...base, rev: N + 3 * i + 2, kind: "hide", user_id: "u1" },
        { ...base, rev: N + 3 * i + 3, kind: "star", user_id: "u2", starred: true },
      ];
    });
    await store.applyMessageOps(ops);

    rowsRead = 0;
    const page = await store.messageChanges(r.id, 0, N + 1000, "u1", 5);
    // The first 100 messages changed later (their latest change for u1 is the hide).
    expect(page).toEqual(ms.slice(100, 105).map((m) => ({ message_id: m.id, rev: m.rev })));
    // A few steps of a few dozen changes per source, not the 2,000 messages and 200 marks.
    expect(rowsRead).toBeLessThanOrEqual(300);
    await store.close();
  });
});
