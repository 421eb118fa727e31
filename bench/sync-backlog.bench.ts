/**
 * Issue 18 item 2: a sync page against a deep pending backlog. With the persist pool stopped,
 * BENCH_BACKLOG (200,000, PENDING_MAX_MESSAGES) messages of 1 KB wait in one room, accepted
 * through the accept path in this process under the API's back-pressure bounds
 * (PENDING_MAX_* at their defaults). Beside it, in the same API process, a room holding the
 * same number of messages all stored (0 pending). For each: `GET /sync/messages?limit=50`
 * from a cursor taken before the messages (the first page) and from one taken halfway (a page
 * deep in the backlog), ten first pages in parallel, and the API's RSS before and after; then
 * the ratio pending / stored.
 *
 *   npm run bench:sync-backlog
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { z } from "zod";
import { newId } from "../src/kernel/ids.ts";
import { AcceptRepository, type Unsequenced } from "../src/messages/accept.repository.ts";
import { BacklogGauge, readBacklog } from "../src/messages/backlog.gauge.ts";
import { Keys } from "../src/redis/redis.ts";
import { openSqliteStore } from "../src/store/sqlite/sqlite.store.ts";
import type { MessageRecord } from "../src/store/store.ts";
import {
  dropPrefix,
  REDIS_URL,
  removeDir,
  tempDir,
  testConfig,
  testEnv,
  token,
  uniquePrefix,
} from "../test/helpers/env.ts";
import { startApiProcess } from "../test/helpers/processes.ts";
import { group, message } from "./fixtures.ts";
import { WorkCheck } from "./work-check.ts";

const opts = z
  .object({
    BENCH_BACKLOG: z.coerce.number().int().positive().default(200_000),
    BENCH_TEXT_CHARS: z.coerce.number().int().positive().default(1024),
    /** Sequential pages timed per cursor (the median is printed). */
    BENCH_PAGES: z.coerce.number().int().positive().default(7),
  })
  .parse(process.env);

const LIMIT = 50;
const PARALLEL = 10;
const work = new WorkCheck();
const prefix = uniquePrefix("bench-sync-backlog");
const dataDir = tempDir("bench-sync-backlog");
const env = testEnv(prefix, dataDir, { LOG_LEVEL: "warn" });
const config = testConfig(prefix, dataDir, { LOG_LEVEL: "warn" });
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL, { enableAutoPipelining: true });
const text = "x".repeat(opts.BENCH_TEXT_CHARS);
const half = Math.floor(opts.BENCH_BACKLOG / 2);

type Page = { messages: { id: string; seq: number }[]; next_since: string; has_more: boolean };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;

/** The API's resident and peak memory (kB), from /proc. */
function memory(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? Number.NaN);
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

// Two rooms, one per user: "p" gets the pending backlog, "s" the same messages stored.
const setup = openSqliteStore(path.join(dataDir, "chat.sqlite"));
const pendingRoom = await group(setup, "p-user", ["p-user", "other"]);
const storedRoom = await group(setup, "s-user", ["s-user", "other"]);
await setup.close();
const api = await startApiProcess(env);
const pid = api.child.pid ?? 0;

async function get(userId: string, pathAndQuery: string): Promise<Page> {
  const res = await fetch(`${api.base}/api/v1/chat${pathAndQuery}`, {
    headers: { authorization: `Bearer ${token(userId)}` },
  });
  if (res.status !== 200) throw new Error(`${pathAndQuery}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Page;
}

async function post(userId: string, pathAndQuery: string, body: unknown): Promise<number> {
  const res = await fetch(`${api.base}/api/v1/chat${pathAndQuery}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token(userId)}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** A device's cursor as of now (no messages, the current revisions). */
async function cursor(userId: string, deviceId: string): Promise<string> {
  return (await get(userId, `/sync/messages?device_id=${deviceId}`)).next_since;
}

type Run = {
  first: number;
  deep: number;
  parallel: number;
  rssBefore: number;
  rssAfter: number;
  peak: number;
};

/** Times pages of `userId` from the two cursors, each checked for a full page of the right messages. */
async function measure(
  label: string,
  userId: string,
  first: string,
  deep: string,
  deepSeq: number,
): Promise<Run> {
  const page = async (since: string, deviceId: string) => {
    const t0 = performance.now();
    const res = await get(userId, `/sync/messages?device_id=${deviceId}&since=${since}&limit=${LIMIT}`);
    const ms = performance.now() - t0;
    work.equal(`${label}: messages in a page`, res.messages.length, LIMIT);
    work.equal(`${label}: has_more`, Number(res.has_more), 1);
    return { ms, res };
  };
  const before = memory(pid);
  await page(first, "first"); // warm-up
  const firsts: number[] = [];
  const deeps: number[] = [];
  for (let i = 0; i < opts.BENCH_PAGES; i++) {
    const one = await page(first, "first");
    work.equal(`${label}: first page starts at the first message`, one.res.messages[0]?.seq ?? 0, 1);
    firsts.push(one.ms);
    const d = await page(deep, "deep");
    work.atLeast(`${label}: deep page starts halfway`, d.res.messages[0]?.seq ?? 0, deepSeq);
    deeps.push(d.ms);
  }
  const t0 = performance.now();
  await Promise.all(Array.from({ length: PARALLEL }, () => page(first, "first")));
  const parallel = performance.now() - t0;
  const after = memory(pid);
  return {
    first: median(firsts),
    deep: median(deeps),
    parallel,
    rssBefore: before.rss,
    rssAfter: after.rss,
    peak: after.peak,
  };
}

try {
  for (const u of ["p-user", "s-user"])
    for (const d of ["first", "deep"])
      if ((await post(u, "/devices", { device_id: d, platform: "web" })) !== 201) throw new Error("device");
  const firstS = await cursor("s-user", "first");
  const firstP = await cursor("p-user", "first");

  // Stored room: written straight into the store in two halves, the room's counters re-seeded
  // from it after each (they live in Redis, keys built by Keys), the deep cursor in between.
  console.log(`filling: ${opts.BENCH_BACKLOG} stored messages of ${opts.BENCH_TEXT_CHARS} chars`);
  const writer = openSqliteStore(path.join(dataDir, "chat.sqlite"));
  const start = Date.now() - 3_600_000;
  let reseeded = 0;
  const writeStored = async (from: number, to: number) => {
    for (let seq = from; seq <= to; seq += 5000) {
      const batch: MessageRecord[] = [];
      for (let s = seq; s <= Math.min(to, seq + 4999); s++)
        batch.push(message(storedRoom, s, "other", text, start + s));
      await writer.insertMessages(batch);
    }
    reseeded += await redis.del(keys.seq(storedRoom), keys.rev(storedRoom));
  };
  await writeStored(1, half);
  const deepS = await cursor("s-user", "deep");
  await writeStored(half + 1, opts.BENCH_BACKLOG);
  await writer.close();
  work.equal("stored room: counters deleted for re-seeding", reseeded, 4);

  // Pending room: the first message through the API (it loads the member cache and seeds the
  // counters), the rest through the same accept path in this process, under the same bounds.
  console.log(`filling: ${opts.BENCH_BACKLOG} pending messages (persist pool stopped)`);
  const t0 = performance.now();
  const firstSend = await post("other", `/rooms/${pendingRoom}/messages`, {
    client_id: "b-0",
    type: "text",
    text,
  });
  work.equal("pending room: first send over REST", firstSend, 201);
  const gauge = new BacklogGauge(redis, keys, {
    maxMessages: config.PENDING_MAX_MESSAGES,
    maxBytes: config.PENDING_MAX_BYTES,
  });
  const accept = new AcceptRepository(redis, keys, gauge, config.IDEMPOTENCY_TTL_S);
  const refused = new Map<string, number>();
  let accepted = 1;
  const acceptUpTo = async (to: number) => {
    const draft = (n: number): Unsequenced => {
      const { seq: _seq, rev: _rev, ...m } = message(pendingRoom, n, "other", text, Date.now());
      return { ...m, id: newId(), client_id: `b-${n}` };
    };
    for (let n = accepted + 1; n <= to; n += 500) {
      const results = await Promise.all(
        Array.from({ length: Math.min(500, to - n + 1) }, (_, i) => accept.accept(draft(n + i))),
      );
      for (const r of results) {
        if (r.kind === "accepted") accepted++;
        else refused.set(r.kind, (refused.get(r.kind) ?? 0) + 1);
      }
    }
  };
  await acceptUpTo(half);
  const deepP = await cursor("p-user", "deep");
  await acceptUpTo(opts.BENCH_BACKLOG);
  const backlog = await readBacklog(redis, keys);
  console.log(
    `   ${accepted} accepted in ${((performance.now() - t0) / 1000).toFixed(1)} s; backlog ${backlog.messages} messages, ${mb(backlog.bytes / 1024)}` +
      (refused.size > 0 ? `; refused: ${JSON.stringify(Object.fromEntries(refused))}` : ""),
  );
  work.equal("pending room: messages accepted", accepted, opts.BENCH_BACKLOG);
  work.equal("pending room: messages pending in Redis", backlog.messages, opts.BENCH_BACKLOG);

  console.log(`\nGET /sync/messages?limit=${LIMIT}, median of ${opts.BENCH_PAGES} (ms), API RSS`);
  const stored = await measure("0 pending", "s-user", firstS, deepS, half + 1);
  const pending = await measure(`${opts.BENCH_BACKLOG} pending`, "p-user", firstP, deepP, half + 1);
  const rows: [string, (r: Run) => string, (p: Run, s: Run) => string][] = [
    ["first page", (r) => `${r.first.toFixed(1)} ms`, (p, s) => `${(p.first / s.first).toFixed(2)}x`],
    [
      "page deep in the backlog",
      (r) => `${r.deep.toFixed(1)} ms`,
      (p, s) => `${(p.deep / s.deep).toFixed(2)}x`,
    ],
    [
      `${PARALLEL} first pages in parallel`,
      (r) => `${r.parallel.toFixed(0)} ms`,
      (p, s) => `${(p.parallel / s.parallel).toFixed(2)}x`,
    ],
    ["API RSS before", (r) => mb(r.rssBefore), () => ""],
    [
      "API RSS after",
      (r) => mb(r.rssAfter),
      (p, s) => `+${mb(p.rssAfter - p.rssBefore)} vs +${mb(s.rssAfter - s.rssBefore)}`,
    ],
    ["API peak RSS so far", (r) => mb(r.peak), () => ""],
  ];
  console.log(`| | 0 pending (${opts.BENCH_BACKLOG} stored) | ${opts.BENCH_BACKLOG} pending | ratio |`);
  console.log("|---|---|---|---|");
  for (const [name, cell, ratio] of rows)
    console.log(`| ${name} | ${cell(stored)} | ${cell(pending)} | ${ratio(pending, stored)} |`);
} finally {
  await api.stop();
  redis.disconnect();
  await dropPrefix(prefix);
  removeDir(dataDir);
}
work.finish();
