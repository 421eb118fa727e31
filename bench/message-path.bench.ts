/**
 * Message-path benchmark (issue 3). On this machine: two API processes, the persist pool,
 * Redis and this load generator. 100 rooms x 10 members, every member connected by Socket.IO
 * (half to each API node). Phases: REST at max rate, socket at max rate, both at half their
 * max rate (latency), then a bare relay (Socket.IO + adapter doing INCR + emit) at max rate.
 *
 *   npm run bench                      # BENCH_SECONDS=8 per phase by default
 *   BENCH_REDIS=cluster npm run bench  # the same on one Redis and on a local Redis Cluster
 *   BENCH_REDIS=cluster-wait ...       # a 6-node cluster without and with REDIS_WAIT_REPLICAS=1
 *   BENCH_REDIS=durability ...         # what appendfsync always and REDIS_WAIT_REPLICAS=1 cost
 *
 * Every run checks that it did the work it times (messages acknowledged, stored, delivered,
 * the pending index sampled) and exits 1 when it did not (bench/work-check.ts).
 */

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:http";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { DatabaseSync } from "node:sqlite";
import { Cluster, Redis } from "ioredis";
import { io as connectIo, type Socket } from "socket.io-client";
import { z } from "zod";
import { signToken } from "../src/auth/jwt.ts";
import { readBacklog } from "../src/messages/backlog.gauge.ts";
import { Keys, masters, type RedisClient, roomBuckets } from "../src/redis/redis.ts";
import {
  dropPrefix,
  REDIS_URL,
  removeDir,
  TEST_SECRET,
  tempDir,
  testEnv,
  token,
  uniquePrefix,
} from "../test/helpers/env.ts";
import {
  freePort,
  type Proc,
  start,
  startApiProcess,
  startWorkerProcess,
} from "../test/helpers/processes.ts";
import { startDurableRedis } from "./durable-redis.ts";
import { WorkCheck } from "./work-check.ts";

const opts = z
  .object({
    BENCH_SECONDS: z.coerce.number().positive().default(8),
    BENCH_REST_CONCURRENCY: z.coerce.number().int().positive().default(64),
    BENCH_SOCKET_CONCURRENCY: z.coerce.number().int().positive().default(128),
    /**
     * `cluster`: the same run on one Redis and on a local 3-master Redis Cluster, side by side.
     * `durability`: on Redis servers this run starts (AOF on disk): appendfsync everysec (the
     * default), appendfsync always, and everysec with a replica and REDIS_WAIT_REPLICAS=1.
     */
    BENCH_REDIS: z.enum(["single", "cluster", "cluster-wait", "durability"]).default("single"),
    /** `durability`: how many times the three configurations alternate. */
    BENCH_ROUNDS: z.coerce.number().int().positive().default(1),
  })
  .parse(process.env);
const ROOMS = 100;
const MEMBERS = 10;
const USERS = ROOMS * MEMBERS;

type Msg = { id?: string; room_id: string; seq: number; text: string };
type Ack = { ok: boolean; message?: Msg };
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pct(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
/** Why sends failed, so an error in the table is never a mystery. */
const errorLog: string[] = [];
const work = new WorkCheck();
const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "n/a");

/** CPU seconds (user + system) of each process, from /proc, to show where a phase's CPU went. */
const TICKS_PER_S = 100;
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}
type CpuProbe = Record<string, number>;
async function cpuShares<T>(
  pids: Record<string, number>,
  run: () => Promise<T>,
): Promise<{ result: T; shares: CpuProbe }> {
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const t0 = now();
  const result = await run();
  const wall = (now() - t0) / 1000;
  const shares: CpuProbe = {};
  for (const [k, pid] of Object.entries(pids)) shares[k] = (cpuSeconds(pid) - (before[k] ?? 0)) / wall;
  shares.total = Object.values(shares).reduce((a, b) => a + b, 0);
  return { result, shares };
}
const formatShares = (s: CpuProbe) =>
  Object.entries(s)
    .map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`)
    .join(", ");

/** Every user's socket, with what it received. */
class Receivers {
  sockets: Socket[] = [];
  nodeOf: number[] = [];
  deliveries = new Map<string, number>();
  crossNodeLatency: number[] = [];
  recording = true;

  async connect(bases: string[], auth: (user: number) => Record<string, unknown>): Promise<void> {
    const all: Promise<void>[] = [];
    for (let u = 0; u < USERS; u++) {
      const node = u % bases.length;
      const socket = connectIo(bases[node] ?? "", {
        auth: auth(u),
        transports: ["websocket"],
        forceNew: true,
      });
      this.sockets[u] = socket;
      this.nodeOf[u] = node;
      socket.on("message:new", ({ message }: { message: Msg }) => {
        if (!this.recording) return;
        const key = message.id ?? `${message.room_id}:${message.seq}`;
        this.deliveries.set(key, (this.deliveries.get(key) ?? 0) + 1);
        const [sentAt, fromNode] = message.text.split("|");
        if (Number(fromNode) !== node) this.crossNodeLatency.push(now() - Number(sentAt));
      });
      all.push(
        new Promise((resolve, reject) => {
          socket.once("connect", () => resolve());
          socket.once("connect_error", reject);
        }),
      );
      if (u % 100 === 99) await Promise.all(all.splice(0));
    }
    await Promise.all(all);
  }

  reset(): void {
    this.deliveries.clear();
    this.crossNodeLatency = [];
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }
}

/** Resolves with the acknowledged message; rejects with what went wrong. */
type Sender = (user: number, room: number, text: string, clientId: string) => Promise<Msg>;
type PhaseResult = {
  sent: number;
  acked: Msg[];
  errors: number;
  errorKinds: Map<string, number>;
  seconds: number;
  acceptMs: number[];
};
const emptyResult = (seconds: number): PhaseResult => ({
  sent: 0,
  acked: [],
  errors: 0,
  errorKinds: new Map(),
  seconds,
  acceptMs: [],
});

function pick(): { room: number; user: number } {
  const room = Math.floor(Math.random() * ROOMS);
  return { room, user: room * MEMBERS + Math.floor(Math.random() * MEMBERS) };
}

let clientSeq = 0;
async function oneSend(send: Sender, nodes: number[], r: PhaseResult): Promise<void> {
  const { room, user } = pick();
  const t0 = now();
  r.sent++;
  try {
    const m = await send(user, room, `${t0}|${nodes[user]}`, `b${process.pid}-${clientSeq++}`);
    r.acked.push(m);
    r.acceptMs.push(now() - t0);
  } catch (err) {
    r.errors++;
    const kind = err instanceof Error ? err.message : String(err);
    r.errorKinds.set(kind, (r.errorKinds.get(kind) ?? 0) + 1);
  }
}

/** Closed loop: `concurrency` senders, each sending as soon as its previous send is acknowledged. */
async function maxRate(
  send: Sender,
  nodes: number[],
  concurrency: number,
  seconds: number,
): Promise<PhaseResult> {
  const r = emptyResult(seconds);
  const end = now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (now() < end) await oneSend(send, nodes, r);
    }),
  );
  return r;
}

/** Open loop at a fixed rate, for latency below saturation. */
async function fixedRate(send: Sender, nodes: number[], rate: number, seconds: number): Promise<PhaseResult> {
  const r = emptyResult(seconds);
  const start = now();
  const inFlight = new Set<Promise<void>>();
  while (now() - start < seconds * 1000) {
    const due = Math.floor(((now() - start) / 1000) * rate);
    while (r.sent < due) {
      const p = oneSend(send, nodes, r).finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(2);
  }
  await Promise.all(inFlight);
  return r;
}

/** Persistence lag: accept time (pending index score) to the moment the worker clears the entry. */
class LagSampler {
  lags: number[] = [];
  #seen = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;
  readonly #redis: RedisClient;
  readonly #keys: string[];
  /** The pending index of every bucket (a message's member in it is "<room>|<id>"). */
  constructor(redis: RedisClient, keys: Keys) {
    this.#redis = redis;
    this.#keys = roomBuckets().map((b) => keys.pendingIndex(b));
  }
  start(): void {
    const tick = async () => {
      // A failed read (the connection closing under a tick in flight at the end) is skipped.
      const read = await Promise.all(
        this.#keys.map((k) => this.#redis.zrange(k, "0", "-1", "WITHSCORES")),
      ).catch(() => null);
      if (read) this.#sample(read.flat());
      // A tick in flight when stop() ran must not schedule another (its connection is closing).
      if (!this.#stopped) this.#timer = setTimeout(tick, 10);
    };
    void tick();
  }
  /** Entries gone from the index since the last read were persisted now: their lag. */
  #sample(rows: string[]): void {
    const t = Date.now();
    const current = new Set<string>();
    for (let i = 0; i < rows.length; i += 2) {
      const id = rows[i] ?? "";
      current.add(id);
      if (!this.#seen.has(id)) this.#seen.set(id, Number(rows[i + 1]));
    }
    for (const [id, acceptedAt] of this.#seen) {
      if (!current.has(id)) {
        this.lags.push(t - acceptedAt);
        this.#seen.delete(id);
      }
    }
  }
  #stopped = false;
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}

function report(name: string, r: PhaseResult, receivers: Receivers): Record<string, string> {
  for (const [kind, n] of r.errorKinds) errorLog.push(`${name}: ${n} x ${kind}`);
  return {
    phase: name,
    "msg/s": (r.acked.length / r.seconds).toFixed(0),
    errors: String(r.errors),
    "accept p50 ms": f1(pct(r.acceptMs, 50)),
    "accept p99 ms": f1(pct(r.acceptMs, 99)),
    "deliver p50 ms": f1(pct(receivers.crossNodeLatency, 50)),
    "deliver p99 ms": f1(pct(receivers.crossNodeLatency, 99)),
  };
}

async function redisPid(redis: Redis): Promise<number> {
  return Number((await redis.info("server")).match(/process_id:(\d+)/)?.[1]);
}

const clusterScript = path.resolve(import.meta.dirname, "../scripts/redis-cluster.sh");
const clusterNodes = () => execFileSync("bash", [clusterScript, "nodes"], { encoding: "utf8" }).trim();

/** Throughput and accept latency of one phase, for the side-by-side summaries. */
type PhaseStats = { rate: number; p50: number; p99: number };

async function runFull(
  mode: "single" | "cluster",
  waitReplicas = 0,
  options: {
    /** The one Redis (mode single): the shared one unless the run started its own. */
    url?: string;
    /** Names this run in the work check's messages. */
    label?: string;
    /** Half-rate phases at these rates instead of half this run's own max (same load across runs). */
    halfRates?: { rest: number; socket: number };
    /** A running bare relay: the run adds a phase alternating with it, for the ratio. */
    bare?: BareRelay;
  } = {},
): Promise<{
  rows: Record<string, string>[];
  cpu: string[];
  socketMax: number;
  /** Worst event-loop p99 of the API processes in the socket phase at 80% of the max rate. */
  loopP99At80: number;
  /** With `bare`: the msg/s of the full path and of the relay in their alternating slices. */
  alternating: { full: number; bare: number } | null;
  lost: number;
  undelivered: number;
  lag: number[];
  stats: Record<"restMax" | "socketMax" | "restHalf" | "socketHalf", PhaseStats>;
  halfRates: { rest: number; socket: number };
}> {
  const url = options.url ?? REDIS_URL;
  const label = options.label ?? mode;
  const prefix = uniquePrefix("bench");
  const dataDir = tempDir("bench");
  // The default send limit (20/s per user) stays on: it is part of the path being measured.
  const nodes = mode === "cluster" ? clusterNodes() : "";
  const env = testEnv(prefix, dataDir, {
    LOG_LEVEL: "warn",
    SEND_RATE_PER_S: "20",
    REDIS_URL: url,
    ...(nodes ? { REDIS_CLUSTER_NODES: nodes } : {}),
    REDIS_WAIT_REPLICAS: String(waitReplicas),
  });
  const procs: Proc[] = [startWorkerProcess(env)];
  const apis = await Promise.all([startApiProcess(env), startApiProcess(env)]);
  procs.push(...apis);
  const bases = apis.map((a) => a.base);
  const tokens = Array.from({ length: USERS }, (_, u) => token(`u${u}`, 3600));
  const redis: RedisClient = nodes
    ? new Cluster(nodes.split(",").map((n) => ({ host: "127.0.0.1", port: Number(n.split(":")[1]) })))
    : new Redis(url);
  await redis.ping();
  const receivers = new Receivers();
  const lag = new LagSampler(redis, new Keys(prefix));
  try {
    const roomIds: string[] = [];
    for (let r = 0; r < ROOMS; r++) {
      const res = await fetch(`${bases[0]}/api/v1/chat/rooms`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokens[r * MEMBERS]}`, "content-type": "application/json" },
        body: JSON.stringify({
          type: "group",
          name: `bench ${r}`,
          member_ids: Array.from({ length: MEMBERS - 1 }, (_, i) => `u${r * MEMBERS + i + 1}`),
        }),
      });
      if (res.status !== 201) throw new Error(`room creation: HTTP ${res.status} ${await res.text()}`);
      roomIds.push(((await res.json()) as { room: { id: string } }).room.id);
    }
    await receivers.connect(bases, (u) => ({ token: tokens[u] }));
    // node:http with keep-alive: a cheaper load generator than fetch, which matters on 2 shared cores.
    const agent = new Agent({ keepAlive: true, maxSockets: 256 });
    const rest: Sender = (user, room, text, clientId) =>
      new Promise((resolve, reject) => {
        const body = JSON.stringify({ client_id: clientId, type: "text", text });
        const req = request(
          `${bases[receivers.nodeOf[user] ?? 0]}/api/v1/chat/rooms/${roomIds[room]}/messages`,
          {
            method: "POST",
            agent,
            headers: {
              authorization: `Bearer ${tokens[user]}`,
              "content-type": "application/json",
              "content-length": Buffer.byteLength(body),
            },
          },
          (res) => {
            let data = "";
            res.setEncoding("utf8");
            res.on("data", (d: string) => {
              data += d;
            });
            res.on("end", () =>
              res.statusCode === 201
                ? resolve((JSON.parse(data) as { message: Msg }).message)
                : reject(new Error(`HTTP ${res.statusCode} ${data.slice(0, 120)}`)),
            );
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    const socket: Sender = async (user, room, text, clientId) => {
      const ack = (await receivers.sockets[user]?.timeout(10_000).emitWithAck("message:send", {
        room_id: roomIds[room],
        client_id: clientId,
        type: "text",
        text,
      })) as Ack;
      if (!ack.ok || !ack.message) throw new Error(`ack ${JSON.stringify(ack).slice(0, 120)}`);
      return ack.message;
    };
    lag.start();

    // Warm-up (JIT, connections, caches).
    await maxRate(rest, receivers.nodeOf, 16, 2);
    await sleep(500);
    const rows: Record<string, string>[] = [];
    const acked: Msg[] = [];
    let undelivered = 0;
    const pids = {
      bench: process.pid,
      "api A": apis[0]?.child.pid ?? 0,
      "api B": apis[1]?.child.pid ?? 0,
      persist: procs[0]?.child.pid ?? 0,
      ...Object.fromEntries(
        await Promise.all(
          masters(redis).map(
            async (m) => [nodes ? `redis ${m.options.port}` : "redis", await redisPid(m)] as const,
          ),
        ),
      ),
    };
    const cpu: string[] = [];
    const admin = signToken(TEST_SECRET, "bench-ops", { admin: true });
    const scrape = () =>
      Promise.all(
        bases.map(async (b) =>
          (await fetch(`${b}/metrics`, { headers: { authorization: `Bearer ${admin}` } })).text(),
        ),
      );
    const metric = (texts: string[], name: string) =>
      texts.map((t) => Number(t.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1] ?? Number.NaN));
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    let batches = { items: 0, jobs: 0 };
    /**
     * Worst event-loop delay p99 of the API processes since the last call (prom-client resets
     * it on scrape), and the persist jobs and batched items since the last call.
     */
    const loopP99 = async () => {
      const texts = await scrape();
      const items = sum(metric(texts, "chat_persist_batch_size_sum"));
      const jobs = sum(metric(texts, "chat_persist_batch_size_count"));
      const delta = { items: items - batches.items, jobs: jobs - batches.jobs };
      batches = { items, jobs };
      return { p99: Math.max(...metric(texts, "nodejs_eventloop_lag_p99_seconds")) * 1000, ...delta };
    };
    /** Event-loop p99 of the API processes per phase, by phase name. */
    const loops = new Map<string, number>();
    const phase = async (name: string, run: () => Promise<PhaseResult>) => {
      receivers.reset();
      await loopP99();
      const { result: r, shares } = await cpuShares(pids, run);
      const loop = await loopP99();
      loops.set(name, loop.p99);
      cpu.push(`${name}: ${formatShares(shares)}`);
      await sleep(1500); // let the last broadcasts land
      rows.push({
        ...report(name, r, receivers),
        "loop p99 ms": f1(loop.p99),
        "jobs/s": (loop.jobs / r.seconds).toFixed(0),
        "msgs/job": (loop.items / Math.max(1, loop.jobs)).toFixed(1),
      });
      acked.push(...r.acked);
      for (const m of r.acked) undelivered += MEMBERS - (receivers.deliveries.get(m.id ?? "") ?? 0);
      // A phase that acknowledged nothing, or mostly failed, timed something else than sends.
      work.atLeast(`${label}, ${name}: messages acknowledged`, r.acked.length, 1);
      work.atMost(`${label}, ${name}: failed sends`, r.errors, Math.floor(r.sent * 0.01));
      return r;
    };
    const restMax = await phase("REST, max rate", () =>
      maxRate(rest, receivers.nodeOf, opts.BENCH_REST_CONCURRENCY, opts.BENCH_SECONDS),
    );
    const socketMax = await phase("socket, max rate", () =>
      maxRate(socket, receivers.nodeOf, opts.BENCH_SOCKET_CONCURRENCY, opts.BENCH_SECONDS),
    );
    const restRate = options.halfRates?.rest ?? Math.floor(restMax.acked.length / restMax.seconds / 2);
    const socketRate =
      options.halfRates?.socket ?? Math.floor(socketMax.acked.length / socketMax.seconds / 2);
    const restHalf = await phase(`REST, half rate (${restRate}/s)`, () =>
      fixedRate(rest, receivers.nodeOf, restRate, opts.BENCH_SECONDS),
    );
    const socketHalf = await phase(`socket, half rate (${socketRate}/s)`, () =>
      fixedRate(socket, receivers.nodeOf, socketRate, opts.BENCH_SECONDS),
    );
    // The event-loop target (p99 <= 20 ms) is set at 80% of the maximum rate, not at saturation.
    const socket80Rate = Math.floor((socketMax.acked.length / socketMax.seconds) * 0.8);
    const socket80Name = `socket, 80% rate (${socket80Rate}/s)`;
    await phase(socket80Name, () => fixedRate(socket, receivers.nodeOf, socket80Rate, opts.BENCH_SECONDS));
    // API-side store writes beside max-rate sends: the event loop must not wait on SQLite's lock.
    let roomsCreated = 0;
    await phase("socket max rate + room creations", async () => {
      const end = now() + opts.BENCH_SECONDS * 1000;
      const creator = (async () => {
        while (now() < end) {
          const res = await fetch(`${bases[roomsCreated % 2]}/api/v1/chat/rooms`, {
            method: "POST",
            headers: { authorization: `Bearer ${tokens[0]}`, "content-type": "application/json" },
            body: JSON.stringify({ type: "group", name: "side", member_ids: ["u1", "u2", "u3"] }),
          });
          if (res.status === 201) roomsCreated++;
          await res.text();
          await sleep(10);
        }
      })();
      // Handled now, rethrown below: a failure while the sends run must not kill this process
      // before the clean-up (servers it started would outlive it).
      creator.catch(() => {});
      const r = await maxRate(socket, receivers.nodeOf, opts.BENCH_SOCKET_CONCURRENCY, opts.BENCH_SECONDS);
      await creator;
      return r;
    });
    rows[rows.length - 1] = {
      ...rows[rows.length - 1],
      phase: `socket max rate + ${roomsCreated} room creations`,
    };

    // The ratio's own phase: the full path and the bare relay take turns in short max-rate
    // slices, so both meet the same load from whatever else runs on this shared machine (the
    // relay's rate alone swung from 300 to 2,300 msg/s between runs, and within a run). The
    // CPU and loop figures of this row include the relay's turns.
    let alternating: { full: number; bare: number } | null = null;
    const bare = options.bare;
    if (bare) {
      const turns = 4;
      const turnS = opts.BENCH_SECONDS / 2;
      let bareAcked = 0;
      const fullR = emptyResult(turns * turnS);
      await phase(`socket max rate, alternating with the relay (${turns} x ${turnS} s each)`, async () => {
        for (let t = 0; t < turns; t++) {
          const f = await maxRate(socket, receivers.nodeOf, opts.BENCH_SOCKET_CONCURRENCY, turnS);
          fullR.sent += f.sent;
          fullR.acked.push(...f.acked);
          fullR.errors += f.errors;
          fullR.acceptMs.push(...f.acceptMs);
          for (const [k, n] of f.errorKinds) fullR.errorKinds.set(k, (fullR.errorKinds.get(k) ?? 0) + n);
          const b = await bare.slice(turnS);
          bareAcked += b.acked.length;
          work.atMost(`${label}: relay turn ${t + 1}: failed sends`, b.errors, Math.floor(b.sent * 0.01));
        }
        return fullR;
      });
      alternating = { full: fullR.acked.length / fullR.seconds, bare: bareAcked / (turns * turnS) };
    }

    // Everything acknowledged must reach the store.
    const drainEnd = Date.now() + 60_000;
    while ((await readBacklog(redis, new Keys(prefix))).messages > 0 && Date.now() < drainEnd)
      await sleep(100);
    await sleep(100);
    lag.stop();
    const db = new DatabaseSync(path.join(dataDir, "chat.sqlite"), { readOnly: true });
    const exists = db.prepare("SELECT 1 AS ok FROM messages WHERE id = ?");
    const lost = acked.filter((m) => !exists.get(m.id ?? "")).length;
    db.close();
    const left = (await readBacklog(redis, new Keys(prefix))).messages;
    // Why the persist pool did not keep up, when it did not.
    if (lost > 0 || left > 0) console.error(`persist pool (${label}):\n${procs[0]?.output().slice(-3000)}`);
    work.equal(`${label}: pending messages left after the drain`, left, 0);
    work.equal(`${label}: acknowledged messages found in the store`, acked.length - lost, acked.length);
    work.equal(
      `${label}: deliveries missing (acknowledged x ${MEMBERS} members, not received)`,
      undelivered,
      0,
    );
    // The lag figure comes from the pending index: no samples means the sampler read no such keys.
    work.atLeast(`${label}: persistence lag samples (the pending index was seen)`, lag.lags.length, 1);
    const stats = (r: PhaseResult): PhaseStats => ({
      rate: r.acked.length / r.seconds,
      p50: pct(r.acceptMs, 50),
      p99: pct(r.acceptMs, 99),
    });
    return {
      rows,
      cpu,
      socketMax: socketMax.acked.length / socketMax.seconds,
      loopP99At80: loops.get(socket80Name) ?? Number.NaN,
      alternating,
      lost,
      undelivered,
      lag: lag.lags,
      stats: {
        restMax: stats(restMax),
        socketMax: stats(socketMax),
        restHalf: stats(restHalf),
        socketHalf: stats(socketHalf),
      },
      halfRates: { rest: restRate, socket: socketRate },
    };
  } finally {
    lag.stop();
    receivers.close();
    redis.disconnect();
    // A server that died during the run says why.
    for (const p of procs)
      if (p.child.exitCode !== null || p.child.signalCode !== null)
        console.error(`${label}: a process exited during the run:\n${p.output().slice(-3000)}`);
    await Promise.all(procs.map((p) => p.stop("SIGTERM")));
    // When a send failed, what the servers logged (LOG_LEVEL=warn) says why.
    if (errorLog.length > 0) for (const p of procs) console.error(p.output().slice(-3000));
    // The cluster is thrown away after the run; the shared Redis is cleaned.
    if (!nodes) await dropPrefix(prefix, url);
    removeDir(dataDir);
  }
}

/** The bare relay, running: max-rate slices on demand, and what they delivered. */
type BareRelay = {
  /** One closed-loop max-rate slice of `seconds` (socket senders, as the full path's phase 2). */
  slice(seconds: number): Promise<PhaseResult>;
  /** Acknowledged messages of every slice so far that some member did not receive. */
  undelivered(): number;
  /** The table row of a slice (its delivery latencies with it). */
  row(name: string, r: PhaseResult): Record<string, string>;
  pids: Record<string, number>;
  close(): Promise<void>;
};

async function openBare(): Promise<BareRelay> {
  const prefix = uniquePrefix("bench-bare");
  const relays: Proc[] = [];
  const bases: string[] = [];
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    const p = start("bench/relay.server.ts", [], { PORT: String(port), REDIS_URL, REDIS_PREFIX: prefix });
    relays.push(p);
    bases.push(`http://127.0.0.1:${port}`);
  }
  const receivers = new Receivers();
  const close = async () => {
    receivers.close();
    await Promise.all(relays.map((p) => p.stop("SIGTERM")));
    await dropPrefix(prefix);
  };
  try {
    // Each relay prints "ready" once listening (a fixed wait was too short on a loaded machine).
    const readyBy = Date.now() + 30_000;
    while (!relays.every((p) => p.output().includes("ready")) && Date.now() < readyBy) await sleep(100);
    await receivers.connect(bases, (u) => ({ rooms: [`r${Math.floor(u / MEMBERS)}`] }));
    const socket: Sender = async (user, room, text) => {
      const ack = (await receivers.sockets[user]
        ?.timeout(10_000)
        .emitWithAck("message:send", { room_id: `r${room}`, text })) as Ack;
      if (!ack.ok || !ack.message) throw new Error(`ack ${JSON.stringify(ack).slice(0, 120)}`);
      return ack.message;
    };
    await maxRate(socket, receivers.nodeOf, 16, 2);
    receivers.reset();
    const probe = new Redis(REDIS_URL);
    const pids = {
      bench: process.pid,
      "relay A": relays[0]?.child.pid ?? 0,
      "relay B": relays[1]?.child.pid ?? 0,
      redis: await redisPid(probe),
    };
    probe.disconnect();
    const acked: Msg[] = [];
    return {
      pids,
      close,
      async slice(seconds) {
        receivers.crossNodeLatency = [];
        const r = await maxRate(socket, receivers.nodeOf, opts.BENCH_SOCKET_CONCURRENCY, seconds);
        acked.push(...r.acked);
        return r;
      },
      undelivered: () => acked.reduce((n, m) => n + MEMBERS - (receivers.deliveries.get(m.id ?? "") ?? 0), 0),
      row: (name, r) => report(name, r, receivers),
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** The bare relay's own max-rate phase, after the full path's (phase 4). */
async function runBare(bare: BareRelay): Promise<{ row: Record<string, string>; rate: number; cpu: string }> {
  const { result: r, shares } = await cpuShares(bare.pids, () => bare.slice(opts.BENCH_SECONDS));
  await sleep(1500);
  work.atLeast("bare relay: messages acknowledged", r.acked.length, 1);
  work.atMost("bare relay: failed sends", r.errors, Math.floor(r.sent * 0.01));
  // Every slice's messages, the alternating phase's included.
  work.equal(
    `bare relay: deliveries missing (acknowledged x ${MEMBERS} members, not received)`,
    bare.undelivered(),
    0,
  );
  return {
    row: bare.row("bare relay, socket, max rate", r),
    rate: r.acked.length / r.seconds,
    cpu: `bare relay, socket, max rate: ${formatShares(shares)}`,
  };
}

if (opts.BENCH_REDIS === "cluster-wait") {
  // What REDIS_WAIT_REPLICAS=1 costs: a 6-node cluster (a replica per master), without and with.
  execFileSync("bash", [clusterScript, "start", "--replicas"], { stdio: "inherit" });
  try {
    const off = await runFull("cluster", 0, { label: "wait 0" });
    const on = await runFull("cluster", 1, { label: "wait 1" });
    const label = (mode: string, rows: Record<string, string>[]) => rows.map((r) => ({ wait: mode, ...r }));
    console.table([...label("0", off.rows), ...label("1", on.rows)]);
    console.log(
      `socket max rate: wait 0 ${off.socketMax.toFixed(0)} msg/s, wait 1 ${on.socketMax.toFixed(0)} msg/s (ratio ${(on.socketMax / off.socketMax).toFixed(2)}); messages lost: ${off.lost} / ${on.lost}`,
    );
  } finally {
    execFileSync("bash", [clusterScript, "stop"]);
  }
  work.finish();
}

if (opts.BENCH_REDIS === "cluster") {
  execFileSync("bash", [clusterScript, "start"], { stdio: "inherit" });
  try {
    const single = await runFull("single");
    const cluster = await runFull("cluster");
    const label = (mode: string, rows: Record<string, string>[]) => rows.map((r) => ({ redis: mode, ...r }));
    console.table([...label("single", single.rows), ...label("cluster", cluster.rows)]);
    console.log(
      `CPU per process (100% = one core; 200% = this machine):\n  single:\n    ${single.cpu.join("\n    ")}\n  cluster:\n    ${cluster.cpu.join("\n    ")}`,
    );
    // Redis CPU per shard in the socket max-rate phase, against the shards' mean.
    const line = cluster.cpu.find((c) => c.startsWith("socket, max rate")) ?? "";
    const shards = [...line.matchAll(/redis (\d+) (\d+)%/g)].map((m) => Number(m[2]));
    const mean = shards.reduce((a, b) => a + b, 0) / Math.max(1, shards.length);
    console.log(
      [
        `socket max rate: single ${single.socketMax.toFixed(0)} msg/s, cluster ${cluster.socketMax.toFixed(0)} msg/s, ratio cluster/single ${(cluster.socketMax / single.socketMax).toFixed(2)} (target >= 0.8)`,
        `Redis CPU per shard (socket max rate): ${shards.map((x) => `${x}%`).join(", ")}; busiest/mean ${(Math.max(...shards) / mean).toFixed(2)} (target <= 1.5)`,
        `persistence lag p99: single ${f1(pct(single.lag, 99))} ms, cluster ${f1(pct(cluster.lag, 99))} ms`,
        `messages lost: single ${single.lost}, cluster ${cluster.lost}; deliveries missing: single ${single.undelivered}, cluster ${cluster.undelivered}`,
      ].join("\n"),
    );
  } finally {
    execFileSync("bash", [clusterScript, "stop"]);
  }
  work.finish();
}

if (opts.BENCH_REDIS === "durability") {
  // Each configuration on Redis servers of its own (AOF on disk), the same phases and, for the
  // half-rate phases, the same offered load (half of the first default run's max rate). The
  // configurations alternate for BENCH_ROUNDS rounds, so drift on this shared machine spreads
  // over all three; the summary takes each figure's median over the rounds.
  type Run = Awaited<ReturnType<typeof runFull>>;
  const configs = [
    { name: "everysec (default)", appendfsync: "everysec", replica: false },
    { name: "appendfsync always", appendfsync: "always", replica: false },
    { name: "everysec + replica, REDIS_WAIT_REPLICAS=1", appendfsync: "everysec", replica: true },
  ] as const;
  const runs = new Map<string, Run[]>(configs.map((c) => [c.name, []]));
  let halfRates: Run["halfRates"] | undefined;
  for (let round = 1; round <= opts.BENCH_ROUNDS; round++) {
    for (const c of configs) {
      const primary = await startDurableRedis(c.appendfsync);
      const copy = c.replica ? await startDurableRedis(c.appendfsync, primary.port) : undefined;
      try {
        const run = await runFull("single", c.replica ? 1 : 0, {
          url: primary.url,
          label: `${c.name}, round ${round}`,
          ...(halfRates ? { halfRates } : {}),
        });
        halfRates ??= run.halfRates;
        runs.get(c.name)?.push(run);
      } finally {
        await copy?.stop();
        await primary.stop();
      }
    }
  }
  console.table(
    configs.flatMap((c) =>
      (runs.get(c.name) ?? []).flatMap((run, i) =>
        run.rows.map((r) => ({ redis: c.name, round: i + 1, ...r })),
      ),
    ),
  );
  const median = (xs: number[]) => {
    const sorted = [...xs].sort((x, y) => x - y);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2
      ? (sorted[mid] ?? Number.NaN)
      : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  };
  type Key = keyof Run["stats"];
  const summary = (name: string) => {
    const rs = runs.get(name) ?? [];
    const stat = (k: Key, f: keyof PhaseStats) => median(rs.map((r) => r.stats[k][f]));
    return {
      stat,
      lagP99: median(rs.map((r) => pct(r.lag, 99))),
      lost: rs.reduce((n, r) => n + r.lost, 0),
      undelivered: rs.reduce((n, r) => n + r.undelivered, 0),
    };
  };
  const base = summary(configs[0].name);
  const ratio = (x: number, y: number) => (x / y).toFixed(2);
  const lat = (s: ReturnType<typeof summary>, k: Key) => `${f1(s.stat(k, "p50"))} / ${f1(s.stat(k, "p99"))}`;
  console.log(
    [
      `\nDurability cost, median of ${opts.BENCH_ROUNDS} round(s) (appendonly yes, AOF on disk; half rate = REST ${halfRates?.rest}/s, socket ${halfRates?.socket}/s for all)`,
      "| Redis | REST msg/s (ratio) | socket msg/s (ratio) | accept p50 / p99 ms: REST max | socket max | REST half | socket half | persistence lag p99 ms | lost / missing |",
      "|---|---|---|---|---|---|---|---|---|",
      ...configs.map(({ name }) => {
        const s = summary(name);
        const rate = (k: Key) =>
          `${s.stat(k, "rate").toFixed(0)} (${ratio(s.stat(k, "rate"), base.stat(k, "rate"))})`;
        return `| ${name} | ${rate("restMax")} | ${rate("socketMax")} | ${lat(s, "restMax")} | ${lat(s, "socketMax")} | ${lat(s, "restHalf")} | ${lat(s, "socketHalf")} | ${f1(s.lagP99)} | ${s.lost} / ${s.undelivered} |`;
      }),
      "socket max rate per round, ratio to the default of the same round:",
      ...configs.slice(1).map(({ name }) => {
        const own = runs.get(name) ?? [];
        const def = runs.get(configs[0].name) ?? [];
        return `  ${name}: ${own.map((r, i) => ratio(r.stats.socketMax.rate, def[i]?.stats.socketMax.rate ?? Number.NaN)).join(", ")}`;
      }),
    ].join("\n"),
  );
  work.finish();
}

// The relay is up (its own 1,000 sockets, idle) through the full run, for the alternating phase.
const relay = await openBare();
let full: Awaited<ReturnType<typeof runFull>>;
let bare: Awaited<ReturnType<typeof runBare>>;
try {
  full = await runFull("single", 0, { bare: relay });
  bare = await runBare(relay);
} finally {
  await relay.close();
}
console.table([...full.rows, bare.row]);
console.log(
  `CPU per process (100% = one core; 200% = this machine):\n  ${[...full.cpu, bare.cpu].join("\n  ")}`,
);
console.log(
  [
    `persistence lag: p50 ${f1(pct(full.lag, 50))} ms, p99 ${f1(pct(full.lag, 99))} ms (${full.lag.length} samples, 10 ms polling)`,
    `messages lost (acknowledged, not in the store): ${full.lost}`,
    `deliveries missing (acknowledged x ${MEMBERS} members, not received): ${full.undelivered}`,
    `ratio full/bare (socket, max rate): ${(full.socketMax / bare.rate).toFixed(2)} (${full.socketMax.toFixed(0)} / ${bare.rate.toFixed(0)} msg/s, phases 2 and 5)`,
    full.alternating
      ? `ratio full/bare, alternating turns: ${(full.alternating.full / full.alternating.bare).toFixed(2)} (${full.alternating.full.toFixed(0)} / ${full.alternating.bare.toFixed(0)} msg/s)`
      : "",
    `API event-loop p99 at 80% of the socket max rate: ${f1(full.loopP99At80)} ms (target <= 20)`,
  ].join("\n"),
);
work.finish();
