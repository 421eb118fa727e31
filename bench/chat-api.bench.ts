/**
 * Chat API benchmarks (issue 8), each against an API process on a prepared SQLite file:
 *  1. room list: one user in 500 rooms, each with messages and unread counts: p99 of GET /rooms
 *     (a page of 100) and of GET /unread;
 *  2. search: BENCH_SEARCH_MESSAGES (default 1,000,000) stored messages in 2,000 rooms, the user
 *     in 200 of them: p99 of a two-word query, and the index's size on disk per million messages;
 *  3. receipts: a 1,024-member group, every member reading the latest message: time and writes
 *     per read receipt, and message info (delivered / read / pending for one message) computed
 *     from the watermarks.
 *
 *   node bench/chat-api.bench.ts
 */
import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { z } from "zod";
import { openSqliteStore } from "../src/store/sqlite/sqlite.store.ts";
import type { MessageRecord, Store } from "../src/store/store.ts";
import { dropPrefix, removeDir, tempDir, testEnv, token, uniquePrefix } from "../test/helpers/env.ts";
import { startApiProcess } from "../test/helpers/processes.ts";
import { group, message } from "./fixtures.ts";
import { WorkCheck } from "./work-check.ts";

const opts = z
  .object({
    BENCH_SEARCH_MESSAGES: z.coerce.number().int().positive().default(1_000_000),
    BENCH_REQUESTS: z.coerce.number().int().positive().default(300),
  })
  .parse(process.env);

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const f1 = (n: number) => n.toFixed(1);
const work = new WorkCheck();
const WORDS =
  "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu".split(
    " ",
  );
const word = (i: number) => WORDS[i % WORDS.length] ?? "alpha";

/** One GET's body, to check that what was timed answered with the data prepared. */
async function getJson<T>(url: string, bearer: string): Promise<T> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

/** Times `n` sequential GETs against the API; returns the latencies in ms. */
async function timeGets(url: string, bearer: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` } });
    await res.text();
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    out.push(performance.now() - t);
  }
  return out;
}

async function withApi<T>(
  name: string,
  prepare: (store: Store, dataDir: string) => Promise<void>,
  run: (base: string, dataDir: string) => Promise<T>,
): Promise<T> {
  const prefix = uniquePrefix(name);
  const dataDir = tempDir(name);
  const store = openSqliteStore(path.join(dataDir, "chat.sqlite"));
  await prepare(store, dataDir);
  await store.close();
  const api = await startApiProcess(testEnv(prefix, dataDir, { LOG_LEVEL: "warn" }));
  try {
    return await run(api.base, dataDir);
  } finally {
    await api.stop("SIGTERM");
    await dropPrefix(prefix);
    removeDir(dataDir);
  }
}

const rows: Record<string, string>[] = [];

// 1. Room list.
let unreadPrepared = 0;
await withApi(
  "bench-rooms",
  async (store) => {
    const t0 = Date.now() - 1_000_000;
    for (let r = 0; r < 500; r++) {
      const roomId = await group(store, "owner", ["owner", "reader", `peer${r}`]);
      await store.insertMessages(
        Array.from({ length: 5 }, (_, i) =>
          message(roomId, i + 1, `peer${r}`, `hello ${r} ${i}`, t0 + r * 1000 + i),
        ),
      );
      if (r % 3 === 0)
        await store.updateReceipts(roomId, "reader", { read_seq: 2, at: new Date().toISOString(), rev: 6 });
      unreadPrepared += r % 3 === 0 ? 3 : 5;
    }
  },
  async (base) => {
    const bearer = token("reader", 3600);
    await timeGets(`${base}/api/v1/chat/rooms?limit=100`, bearer, 20);
    const list = await timeGets(`${base}/api/v1/chat/rooms?limit=100`, bearer, opts.BENCH_REQUESTS);
    const unread = await timeGets(`${base}/api/v1/chat/unread`, bearer, opts.BENCH_REQUESTS);
    const page = await getJson<{ rooms: unknown[] }>(`${base}/api/v1/chat/rooms?limit=100`, bearer);
    work.equal("GET /rooms: rooms in the page timed", page.rooms.length, 100);
    const counts = await getJson<{ total: number; rooms: Record<string, number> }>(
      `${base}/api/v1/chat/unread`,
      bearer,
    );
    work.equal("GET /unread: rooms counted", Object.keys(counts.rooms).length, 500);
    work.equal("GET /unread: total", counts.total, unreadPrepared);
    rows.push(
      {
        bench: "GET /rooms (500 rooms, page of 100)",
        "p50 ms": f1(pct(list, 50)),
        "p99 ms": f1(pct(list, 99)),
        target: "p99 ≤ 30 ms",
      },
      {
        bench: "GET /unread (500 rooms)",
        "p50 ms": f1(pct(unread, 50)),
        "p99 ms": f1(pct(unread, 99)),
        target: "p99 ≤ 15 ms",
      },
    );
  },
);

// 2. Search.
await withApi(
  "bench-search",
  async (store) => {
    const rooms: string[] = [];
    for (let r = 0; r < 2000; r++)
      rooms.push(await group(store, "owner", ["owner", r < 200 ? "searcher" : `other${r}`]));
    const perRoom = Math.ceil(opts.BENCH_SEARCH_MESSAGES / rooms.length);
    const t0 = Date.now() - 10_000_000;
    let made = 0;
    const started = performance.now();
    for (let seq = 1; seq <= perRoom && made < opts.BENCH_SEARCH_MESSAGES; seq++) {
      const batch: MessageRecord[] = [];
      for (const [r, roomId] of rooms.entries()) {
        if (made >= opts.BENCH_SEARCH_MESSAGES) break;
        const n = made++;
        batch.push(
          message(
            roomId,
            seq,
            "owner",
            `${word(n)} ${word(n * 7 + 3)} ${word(n * 13 + r)} message number ${n}`,
            t0 + n,
          ),
        );
      }
      await store.insertMessages(batch);
    }
    process.stdout.write(
      `search: stored ${made} messages in ${((performance.now() - started) / 1000).toFixed(0)} s\n`,
    );
  },
  async (base, dataDir) => {
    const db = new DatabaseSync(path.join(dataDir, "chat.sqlite"), { readOnly: true });
    const fts = Number(
      db.prepare("SELECT sum(pgsize) AS n FROM dbstat WHERE name LIKE 'messages_fts%'").get()?.n ?? 0,
    );
    const total = Number(
      db.prepare("SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()").get()
        ?.n ?? 0,
    );
    db.close();
    const bearer = token("searcher", 3600);
    const queries = ["alpha bravo", "kilo tango", "echo zulu", "mike papa"];
    const times: number[] = [];
    for (let i = 0; i < opts.BENCH_REQUESTS; i++) {
      const q = encodeURIComponent(queries[i % queries.length] ?? "alpha bravo");
      times.push(...(await timeGets(`${base}/api/v1/chat/search/messages?q=${q}`, bearer, 1)));
    }
    // A search that finds nothing is fast and measures nothing: each query must find a page.
    for (const q of queries) {
      const found = await getJson<{ messages: unknown[] }>(
        `${base}/api/v1/chat/search/messages?q=${encodeURIComponent(q)}`,
        bearer,
      );
      work.atLeast(`search "${q}": messages found`, found.messages.length, 1);
    }
    const perMillion = (bytes: number) =>
      `${(((bytes / opts.BENCH_SEARCH_MESSAGES) * 1e6) / 2 ** 20).toFixed(0)} MiB`;
    rows.push({
      bench: `search, two words (${opts.BENCH_SEARCH_MESSAGES.toLocaleString("en")} messages, user in 200 of 2,000 rooms)`,
      "p50 ms": f1(pct(times, 50)),
      "p99 ms": f1(pct(times, 99)),
      target: "p99 ≤ 50 ms",
    });
    rows.push({
      bench: "search index size per million messages (whole file per million)",
      "p50 ms": "",
      "p99 ms": "",
      target: `${perMillion(fts)} (${perMillion(total)})`,
    });
  },
);

// 3. Receipts in a 1,024-member group.
let roomId = "";
const memberIds = Array.from({ length: 1024 }, (_, i) => `m${i}`);
await withApi(
  "bench-receipts",
  async (store) => {
    roomId = await group(store, "m0", memberIds);
    await store.insertMessages([message(roomId, 1, "m0", "read me", Date.now())]);
  },
  async (base, dataDir) => {
    const times: number[] = [];
    const started = performance.now();
    for (const id of memberIds.slice(1)) {
      const t = performance.now();
      const res = await fetch(`${base}/api/v1/chat/rooms/${roomId}/read`, {
        method: "POST",
        headers: { authorization: `Bearer ${token(id, 3600)}`, "content-type": "application/json" },
        body: JSON.stringify({ seq: 1 }),
      });
      if (res.status !== 204) throw new Error(`read: HTTP ${res.status}`);
      times.push(performance.now() - t);
    }
    const wall = performance.now() - started;
    // Message info for the message, from watermarks, as the sync issue's endpoint will compute it.
    const store = openSqliteStore(path.join(dataDir, "chat.sqlite"));
    const info: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      const members = await store.getMembers(roomId);
      const read = members
        .filter((m) => m.user_id !== "m0" && m.read_seq >= 1)
        .map((m) => ({ user_id: m.user_id, at: m.read_at }));
      const delivered = members
        .filter((m) => m.user_id !== "m0" && m.delivered_seq >= 1)
        .map((m) => ({ user_id: m.user_id, at: m.delivered_at }));
      const pending = members.filter((m) => m.user_id !== "m0" && m.delivered_seq < 1).map((m) => m.user_id);
      if (read.length !== 1023 || delivered.length !== 1023 || pending.length !== 0)
        throw new Error("message info is wrong");
      info.push(performance.now() - t);
    }
    await store.close();
    rows.push(
      {
        bench: "read receipt, 1,024-member group (REST, one at a time)",
        "p50 ms": f1(pct(times, 50)),
        "p99 ms": f1(pct(times, 99)),
        target: `${(1023 / (wall / 1000)).toFixed(0)} receipts/s; per receipt: 1 Redis INCR (rev), 1 GET (last seq), 1 store write (2 UPDATEs), 1 broadcast`,
      },
      {
        bench: "message info from watermarks (1,024 members)",
        "p50 ms": f1(pct(info, 50)),
        "p99 ms": f1(pct(info, 99)),
        target: "≤ 20 ms",
      },
    );
  },
);

console.table(rows);
work.finish();
