/**
 * The system under test for the soak: two API processes and one process per worker pool on one
 * Redis prefix and one SQLite file (the embedded defaults: SQLite store, local media, the log
 * push provider), started the way PM2 starts them, and the chaos that kills and stalls them.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { signToken } from "../../src/auth/jwt.ts";
import { readBacklog } from "../../src/messages/backlog.gauge.ts";
import { POOLS, type PoolName } from "../../src/queues/pools.ts";
import { Keys, type RedisClient } from "../../src/redis/redis.ts";
import {
  dropPrefix,
  REDIS_URL,
  removeDir,
  tempDir,
  testEnv,
  testRedis,
  uniquePrefix,
} from "../../test/helpers/env.ts";
import { freePort } from "../../test/helpers/processes.ts";
import type { Fault } from "./ledger.ts";

export type PushRecord = {
  user_id: string;
  device_id: string;
  message_id: string | null;
  /** Not in the brief's shape: the push's room (every push has one), for checks that group by room. */
  room_id: string | null;
  type: string;
  at: number;
};

export type DrainResult = {
  drained: boolean;
  pendingMessages: number;
  pendingOps: number;
  /** Per queue: waiting + active + delayed + prioritized + paused + waiting-children, scheduler jobs left out. */
  jobs: Record<string, number>;
  /** Per queue: jobs in BullMQ's failed set (with unbounded attempts there should be none). */
  failedJobs: Record<string, number>;
};

export type SoakSystem = {
  /** API base URLs (two), stable across restarts (same port). */
  apis: string[];
  dataDir: string;
  dbPath: string;
  prefix: string;
  redisUrl: string;
  /** The JWT secret the processes use (set explicitly via JWT_SECRET) so the soak can mint tokens. */
  jwtSecret: string;
  /** An admin token (for /metrics), valid for a week. */
  adminToken: string;
  /** Faults as injected; a kill's `ms` is filled in once the process answers again. */
  faults: Fault[];
  /** Every push the log push provider recorded, from every notify process's stdout (restarts included). */
  pushes(): PushRecord[];
  /** Windows when a process was down (kill or crash → answering again) or the store stalled; open ones end now. */
  downWindows(): { from: number; to: number; target: string }[];
  /** Unexpected exits (not chaos, not stop) and processes that did not come back, each with its last output. */
  crashes(): string[];
  /** The current pid of each process (null while it is down). */
  processes(): { target: string; pid: number | null }[];
  /** The last ~200 KB of each process's output (every run of it), for diagnostics. */
  output(target: string): string;
  startChaos(rng: () => number, log: (line: string) => void): void;
  /** Stops injecting, waits for any restart or stall in progress, makes sure every process runs. */
  stopChaos(): Promise<void>;
  /** Waits until nothing is pending and every queue is empty (twice in a row); resolves with what was left. */
  drain(timeoutMs: number): Promise<DrainResult>;
  /** Stops everything (SIGTERM, SIGKILL after 15 s), drops the Redis prefix, removes dataDir unless keep. */
  stop(opts?: { keep?: boolean }): Promise<void>;
};

const root = path.resolve(import.meta.dirname, "../..");
const TAIL_BYTES = 200 * 1024;
const READY_TIMEOUT_MS = 60_000;
/** PM2's kill_timeout for these processes (SHUTDOWN_TIMEOUT_MS + 5 s). */
const TERM_GRACE_MS = 15_000;
/** PM2's restart_delay after a crash (ecosystem.config.js). */
const CRASH_RESTART_DELAY_MS = 1000;
const MAX_START_ATTEMPTS = 10;

/**
 * What the soak runs with beyond the tests' embedded env (testEnv): orphaned pending work is
 * rescued after seconds rather than 30 s (as test/e2e/crash.test.ts does), and a killed pool's
 * jobs come back after ~15 s rather than up to 90 s, so the end-of-run drain stays short.
 */
const SOAK_ENV: Record<string, string> = {
  PENDING_RESCUE_AFTER_S: "2",
  PENDING_RESCUE_EVERY_MS: "1000",
  MEDIA_LOCK_MS: "10000",
  MEDIA_STALLED_INTERVAL_MS: "5000",
  FANOUT_LOCK_MS: "10000",
  FANOUT_STALLED_INTERVAL_MS: "5000",
  NOTIFY_LOCK_MS: "10000",
  NOTIFY_STALLED_INTERVAL_MS: "5000",
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The last `max` characters of a stream, kept in chunks so appending stays cheap. */
class Tail {
  readonly #max: number;
  #chunks: string[] = [];
  #size = 0;
  constructor(max: number) {
    this.#max = max;
  }
  add(s: string): void {
    this.#chunks.push(s);
    this.#size += s.length;
    while (this.#size > this.#max && this.#chunks.length > 1) this.#size -= this.#chunks.shift()?.length ?? 0;
    if (this.#size > this.#max) {
      const only = (this.#chunks[0] ?? "").slice(-this.#max);
      this.#chunks = [only];
      this.#size = only.length;
    }
  }
  text(): string {
    return this.#chunks.join("");
  }
  lastLines(n: number): string {
    return this.text().trimEnd().split("\n").slice(-n).join("\n");
  }
}

type Phase = "starting" | "up" | "down";

type Member = {
  name: string;
  script: string;
  args: string[];
  env: Record<string, string>;
  /** APIs: their base URL (readiness is /readyz); pools: null (readiness is the IPC "ready"). */
  base: string | null;
  child: ChildProcess | null;
  /** Resolves when the current child has exited. */
  exit: Promise<void>;
  phase: Phase;
  /** A restart (chaos or crash) in progress. */
  busy: Promise<void> | null;
  tail: Tail;
};

type Window = { from: number; to: number | null; target: string };

type PushLine = {
  time?: number;
  msg?: string;
  push?: { user_id?: string; device_id?: string; type?: string; message_id?: string; room_id?: string };
};

/**
 * A port below the kernel's ephemeral range: an API keeps its port across restarts, and while it
 * is down an outgoing connection of the soak's clients could otherwise take a port from the
 * ephemeral range (where freePort's come from) and make the restart fail with EADDRINUSE.
 */
async function stablePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
  } catch {
    // not Linux: take any free port
  }
  const from = Math.max(1024, low - 12_000);
  for (let i = 0; i < 50 && low > from; i++) {
    const port = from + Math.floor(Math.random() * (low - from));
    const ok = await new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  return freePort();
}

/**
 * The stall runs in a worker thread: BEGIN IMMEDIATE waits (synchronously, up to the busy
 * timeout) for a batch another process is writing, which must not block the soak's clients.
 * The hold is a timer between BEGIN and ROLLBACK, so the thread idles while it holds the lock.
 */
const STALL_WORKER = `
const { workerData, parentPort } = process.getBuiltinModule("node:worker_threads");
const { DatabaseSync } = process.getBuiltinModule("node:sqlite");
const db = new DatabaseSync(workerData.dbPath, { timeout: 30000 });
db.exec("BEGIN IMMEDIATE");
parentPort.postMessage({ locked: Date.now() });
setTimeout(() => {
  db.exec("ROLLBACK");
  db.close();
  parentPort.postMessage({ released: Date.now() });
}, workerData.holdMs);
`;

export async function startSystem(opts: {
  log: (line: string) => void;
  /** Overrides of the processes' environment (after testEnv and SOAK_ENV). */
  env?: Record<string, string>;
}): Promise<SoakSystem> {
  const log = opts.log;
  const prefix = uniquePrefix("soak");
  const dataDir = tempDir("soak");
  const dbPath = path.join(dataDir, "chat.sqlite");
  const jwtSecret = randomBytes(32).toString("hex");
  const adminToken = signToken(jwtSecret, "soak-admin", { admin: true, expiresInS: 7 * 86_400 });
  const env = testEnv(prefix, dataDir, { JWT_SECRET: jwtSecret, ...SOAK_ENV, ...opts.env });
  const ports = [await stablePort(), await stablePort()];
  while (ports[1] === ports[0]) ports[1] = await stablePort();

  const member = (name: string, script: string, args: string[], extra: Record<string, string>): Member => ({
    name,
    script,
    args,
    env: { ...env, ...extra },
    base: extra.PORT ? `http://127.0.0.1:${extra.PORT}` : null,
    child: null,
    exit: Promise.resolve(),
    phase: "down",
    busy: null,
    tail: new Tail(TAIL_BYTES),
  });
  const apiMembers = ports.map((port, i) => {
    const base = `http://127.0.0.1:${port}`;
    return member(`api-${i}`, "src/main.ts", [], { PORT: String(port), PUBLIC_URL: base });
  });
  const poolMembers = POOLS.map((pool: PoolName) =>
    // The log provider's "push" lines are at info; the other pools stay at the tests' warn.
    member(`pool-${pool}`, "workers/main.ts", [pool], pool === "notify" ? { LOG_LEVEL: "info" } : {}),
  );
  const members = [...apiMembers, ...poolMembers];

  const faults: Fault[] = [];
  const windows: Window[] = [];
  const crashes: string[] = [];
  const pushes: PushRecord[] = [];
  /** Children this file killed or stopped: their exit is no crash. */
  const expected = new WeakSet<ChildProcess>();
  let stopping = false;

  // If the soak exits without stop() (a throw, process.exit), leave no process behind.
  const killAll = () => {
    for (const m of members) m.child?.kill("SIGKILL");
  };
  process.on("exit", killAll);

  const parsePushLine = (line: string) => {
    if (!line.includes('"msg":"push"')) return;
    try {
      const l = JSON.parse(line) as PushLine;
      if (l.msg !== "push" || !l.push) return;
      pushes.push({
        user_id: l.push.user_id ?? "",
        device_id: l.push.device_id ?? "",
        message_id: l.push.message_id ?? null,
        room_id: l.push.room_id ?? null,
        type: l.push.type ?? "",
        at: l.time ?? Date.now(),
      });
    } catch {
      // a line that only looks like a push: not one
    }
  };

  /** Spawns the member's process as `start` (test/helpers/processes.ts) does, plus an IPC channel for "ready". */
  const launch = (m: Member): ChildProcess => {
    const nodeArgs = process.env.CHILD_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
    const child = spawn(process.execPath, [...nodeArgs, path.join(root, m.script), ...m.args], {
      cwd: root,
      env: { ...process.env, ...m.env },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    m.child = child;
    m.phase = "starting";
    m.tail.add(`--- soak: ${m.name} started, pid ${child.pid} at ${new Date().toISOString()} ---\n`);
    let partial = "";
    child.stdout?.setEncoding("utf8");
    child.stdout?.on("data", (d: string) => {
      m.tail.add(d);
      const lines = (partial + d).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) parsePushLine(line);
    });
    child.stdout?.on("end", () => parsePushLine(partial));
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (d: string) => m.tail.add(d));
    const closed = new Promise<void>((r) => child.once("close", () => r()));
    m.exit = new Promise<void>((resolve) => {
      child.once("exit", (code, signal) => {
        const at = Date.now();
        const wasUp = m.phase === "up";
        if (m.child === child) {
          m.child = null;
          m.phase = "down";
        }
        resolve();
        if (expected.has(child)) return;
        // Wait briefly for the last output (a grandchild such as ffmpeg may hold the pipe open).
        void Promise.race([closed, sleep(500)]).then(() => {
          const what = `${m.name} (pid ${child.pid}) exited unexpectedly at ${new Date(at).toISOString()}: code ${code}, signal ${signal}`;
          crashes.push(`${what}\n${m.tail.lastLines(40)}`);
          log(`!!! CRASH: ${what}\n${m.tail.lastLines(15)}`);
        });
        // One that dies while starting is retried by bringUp; one that was up restarts as PM2 would.
        if (wasUp && !stopping && !m.busy) {
          const w: Window = { from: at, to: null, target: m.name };
          windows.push(w);
          m.busy = (async () => {
            await sleep(CRASH_RESTART_DELAY_MS);
            await bringUp(m, log);
            w.to = Date.now();
            log(`${m.name} restarted after its crash, answering after ${w.to - at} ms`);
          })()
            .catch((err: unknown) => report(m, err))
            .finally(() => {
              m.busy = null;
            });
        }
      });
    });
    return child;
  };

  const report = (m: Member, err: unknown) => {
    // A restart cut short by stop() is no failure of the system.
    if (stopping) return;
    const what = `${m.name} did not come back: ${(err as Error).message}`;
    crashes.push(`${what}\n${m.tail.lastLines(40)}`);
    log(`!!! ${what}`);
  };

  /** Until the API answers /readyz or the pool says "ready"; rejects when the child dies or time runs out. */
  const ready = async (m: Member, child: ChildProcess, timeoutMs: number): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    const alive = () => child.exitCode === null && child.signalCode === null;
    if (m.base) {
      while (alive() && Date.now() < deadline) {
        try {
          const res = await fetch(`${m.base}/readyz`, { signal: AbortSignal.timeout(2000) });
          await res.body?.cancel();
          if (res.ok && alive()) return;
        } catch {
          // not listening yet
        }
        await sleep(100);
      }
    } else {
      const said = await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          clearTimeout(timer);
          child.off("message", onMessage);
          child.off("exit", onExit);
          if (err) reject(err);
          else resolve();
        };
        const onMessage = (msg: unknown) => {
          if (msg === "ready") done();
        };
        const onExit = () => done(new Error("exited"));
        const timer = setTimeout(() => done(new Error("timeout")), timeoutMs);
        child.on("message", onMessage);
        child.once("exit", onExit);
        if (!alive()) done(new Error("exited"));
      }).then(
        () => true,
        () => false,
      );
      if (said && alive()) return;
    }
    throw new Error(
      alive()
        ? `not ready within ${timeoutMs} ms`
        : `exited before it was ready (code ${child.exitCode}, signal ${child.signalCode})`,
    );
  };

  /** Starts the member and waits until it answers; retries like PM2 (restart delay, a bounded count). */
  const bringUp = async (m: Member, say: (line: string) => void): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      if (stopping) throw new Error("the system is stopping");
      const child = launch(m);
      try {
        await ready(m, child, READY_TIMEOUT_MS);
        m.phase = "up";
        return;
      } catch (err) {
        if (child.exitCode === null && child.signalCode === null) {
          expected.add(child);
          child.kill("SIGKILL");
          await m.exit;
          crashes.push(`${m.name} (pid ${child.pid}): ${(err as Error).message}\n${m.tail.lastLines(40)}`);
        }
        if (stopping || attempt >= MAX_START_ATTEMPTS) throw err;
        say(`!!! ${m.name} start attempt ${attempt} failed (${(err as Error).message}); retrying`);
        await sleep(CRASH_RESTART_DELAY_MS);
      }
    }
  };

  /** SIGKILL (chaos) or SIGTERM (stop) of the current child, marked as expected; resolves on its exit. */
  const kill = async (m: Member, signal: NodeJS.Signals): Promise<void> => {
    const child = m.child;
    if (!child) return;
    expected.add(child);
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await m.exit;
  };

  // api-0 first: it creates the schema and the embedded secrets in DATA_DIR (the media signing
  // secret is written by whichever process comes first), then everything else at once.
  const first = apiMembers[0] as Member;
  try {
    await bringUp(first, log);
    await Promise.all(members.filter((m) => m !== first).map((m) => bringUp(m, log)));
  } catch (err) {
    stopping = true;
    const detail = members.map((m) => `--- ${m.name} ---\n${m.tail.lastLines(30)}`).join("\n");
    await Promise.all(members.map((m) => kill(m, "SIGKILL")));
    process.off("exit", killAll);
    await dropPrefix(prefix).catch(() => {});
    removeDir(dataDir);
    throw new Error(`the soak system did not start: ${(err as Error).message}\n${detail}`);
  }
  log(`system up: ${members.map((m) => `${m.name}=${m.child?.pid}`).join(" ")} data ${dataDir}`);

  // ---- chaos ----
  type Chaos = { stopped: boolean; wake: () => void; loop: Promise<void>; inflight: Set<Promise<void>> };
  let chaos: Chaos | null = null;
  let stalling = false;
  const stallWorkers = new Set<Worker>();

  const killAndRestart = async (m: Member, delayMs: number, say: (line: string) => void): Promise<void> => {
    const at = Date.now();
    const fault: Fault = { at, kind: "kill", target: m.name, ms: 0 };
    const w: Window = { from: at, to: null, target: m.name };
    faults.push(fault);
    windows.push(w);
    say(`chaos: kill -9 ${m.name} (pid ${m.child?.pid}), restart in ${delayMs} ms`);
    m.phase = "down";
    await kill(m, "SIGKILL");
    await sleep(delayMs);
    await bringUp(m, say);
    w.to = Date.now();
    fault.ms = w.to - at;
    say(`chaos: ${m.name} answering again after ${fault.ms} ms (pid ${m.child?.pid})`);
  };

  const stallStore = async (holdMs: number, say: (line: string) => void): Promise<void> => {
    stalling = true;
    const requested = Date.now();
    const worker = new Worker(STALL_WORKER, { eval: true, workerData: { dbPath, holdMs } });
    stallWorkers.add(worker);
    let w: Window | null = null;
    let fault: Fault | null = null;
    try {
      await new Promise<void>((resolve, reject) => {
        worker.on("message", (msg: { locked?: number; released?: number }) => {
          if (msg.locked !== undefined) {
            fault = { at: msg.locked, kind: "stall-store", target: "sqlite", ms: holdMs };
            w = { from: msg.locked, to: null, target: "sqlite" };
            faults.push(fault);
            windows.push(w);
            say(
              `chaos: store write lock held ${msg.locked - requested} ms after the request (thread start + busy wait), for ${holdMs} ms`,
            );
          }
          if (msg.released !== undefined && w && fault) {
            w.to = msg.released;
            fault.ms = msg.released - w.from;
            say(`chaos: store released after ${fault.ms} ms`);
            resolve();
          }
        });
        worker.once("error", reject);
        worker.once("exit", (code) => reject(new Error(`stall worker exited (${code}) before releasing`)));
      });
    } finally {
      stallWorkers.delete(worker);
      stalling = false;
      await worker.terminate();
    }
  };

  const isUp = (m: Member) => m.phase === "up" && !m.busy && m.child !== null;

  const startChaos = (rng: () => number, say: (line: string) => void): void => {
    if (chaos && !chaos.stopped) throw new Error("chaos is already running");
    let wake = () => {};
    const state: Chaos = {
      stopped: false,
      wake: () => wake(),
      loop: Promise.resolve(),
      inflight: new Set(),
    };
    const track = (p: Promise<void>, m: Member | null) => {
      const t = p
        .catch((err: unknown) => {
          if (m) report(m, err);
          else say(`!!! chaos: store stall failed: ${(err as Error).message}`);
        })
        .finally(() => {
          state.inflight.delete(t);
          if (m) m.busy = null;
        });
      state.inflight.add(t);
      if (m) m.busy = t;
    };
    state.loop = (async () => {
      while (!state.stopped) {
        // Every draw is made each round, whatever is chosen, so a seed gives the same sequence.
        const waitMs = Math.round(3000 + rng() * 5000);
        const action = rng();
        const which = rng();
        const restartDelayMs = Math.round(100 + rng() * 900);
        const holdMs = Math.round(500 + rng() * 2500);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, waitMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        if (state.stopped || stopping) break;
        if (action < 0.2 && !stalling) {
          track(stallStore(holdMs, say), null);
          continue;
        }
        // Never both APIs: an API is a candidate only while the other one is up.
        const candidates = members.filter(
          (m) => isUp(m) && (m.base === null || apiMembers.every((a) => a === m || isUp(a))),
        );
        const victim = candidates[Math.floor(which * candidates.length)];
        if (!victim) {
          say("chaos: nothing to kill right now (every process is restarting)");
          continue;
        }
        track(killAndRestart(victim, restartDelayMs, say), victim);
      }
    })();
    chaos = state;
    say("chaos: started");
  };

  const stopChaos = async (): Promise<void> => {
    if (chaos) {
      chaos.stopped = true;
      chaos.wake();
      await chaos.loop;
      await Promise.allSettled([...chaos.inflight]);
    }
    await Promise.allSettled(members.map((m) => m.busy ?? Promise.resolve()));
    // Whatever did not come back gets one more start; a failure here is the soak's to report.
    await Promise.all(
      members
        .filter((m) => m.phase !== "up" || !m.child)
        .map(async (m) => {
          log(`${m.name} is not running after the chaos: starting it`);
          const w: Window = { from: Date.now(), to: null, target: m.name };
          windows.push(w);
          await bringUp(m, log);
          w.to = Date.now();
        }),
    );
  };

  // ---- drain ----
  const keys = new Keys(prefix);
  let redis: RedisClient | null = null;
  const listStates = ["wait", "active", "paused"];
  const zsetStates = ["delayed", "prioritized", "waiting-children"];
  /** Outstanding jobs of a queue; job-scheduler jobs (ids "repeat:<id>:<ms>") always have a next one, so they don't count. */
  const queueCounts = async (
    r: RedisClient,
    queue: string,
  ): Promise<{ outstanding: number; failed: number }> => {
    const base = `${keys.bullPrefix(queue)}:${queue}`;
    const [lists, zsets, failed] = await Promise.all([
      Promise.all(
        listStates.map(async (s) => {
          const [len, ids] = await Promise.all([r.llen(`${base}:${s}`), r.lrange(`${base}:${s}`, 0, 999)]);
          return len - ids.filter((id) => id.startsWith("repeat:")).length;
        }),
      ),
      Promise.all(
        zsetStates.map(async (s) => {
          // A delayed job is backlog only once overdue: the rest are timers by design (an upload's
          // expiry fires ~16 min after it, so a long soak always has some coming due). BullMQ
          // scores them at due-time × 0x1000.
          const due = s === "delayed" ? (Date.now() - 5_000) * 0x1000 : "+inf";
          const ids = await r.zrangebyscore(`${base}:${s}`, "-inf", due);
          return ids.filter((id) => !id.startsWith("repeat:")).length;
        }),
      ),
      r.zcard(`${base}:failed`),
    ]);
    return { outstanding: [...lists, ...zsets].reduce((a, b) => a + b, 0), failed };
  };
  const drainOnce = async (): Promise<DrainResult> => {
    redis ??= testRedis();
    const r = redis;
    const [backlog, counts] = await Promise.all([
      readBacklog(r, keys),
      Promise.all(POOLS.map(async (q) => [q, await queueCounts(r, q)] as const)),
    ]);
    const jobs: Record<string, number> = {};
    const failedJobs: Record<string, number> = {};
    for (const [q, c] of counts) {
      jobs[q] = c.outstanding;
      failedJobs[q] = c.failed;
    }
    const drained = backlog.messages === 0 && backlog.ops === 0 && Object.values(jobs).every((n) => n === 0);
    return { drained, pendingMessages: backlog.messages, pendingOps: backlog.ops, jobs, failedJobs };
  };
  const drain = async (timeoutMs: number): Promise<DrainResult> => {
    const deadline = Date.now() + timeoutMs;
    let calm = 0;
    for (;;) {
      let last: DrainResult;
      try {
        last = await drainOnce();
      } catch (err) {
        last = {
          drained: false,
          pendingMessages: -1,
          pendingOps: -1,
          jobs: { error: -1 },
          failedJobs: {},
        };
        log(`drain: reading Redis failed: ${(err as Error).message}`);
      }
      // Twice in a row, a second apart: a job between "done" and the next one it enqueues is not drained.
      calm = last.drained ? calm + 1 : 0;
      if (calm >= 2) return last;
      if (Date.now() >= deadline) return { ...last, drained: false };
      await sleep(1000);
    }
  };

  // ---- stop ----
  let stopped = false;
  const stop = async (stopOpts: { keep?: boolean } = {}): Promise<void> => {
    if (stopped) return;
    stopped = true;
    stopping = true;
    if (chaos) {
      chaos.stopped = true;
      chaos.wake();
      await chaos.loop;
    }
    // A restart in flight sees `stopping` and launches nothing more; what runs gets SIGTERM.
    const term = async (m: Member) => {
      const child = m.child;
      if (!child) return;
      const timer = setTimeout(() => {
        log(`${m.name} (pid ${child.pid}) still running ${TERM_GRACE_MS} ms after SIGTERM: SIGKILL`);
        child.kill("SIGKILL");
      }, TERM_GRACE_MS);
      await kill(m, "SIGTERM");
      clearTimeout(timer);
      // A graceful stop that fails (e.g. "shutdown timed out") is worth a line, not a crash.
      if (child.exitCode !== null && child.exitCode !== 0)
        log(`${m.name} (pid ${child.pid}) stopped with exit code ${child.exitCode}`);
    };
    await Promise.all(members.map(term));
    await Promise.allSettled([
      ...(chaos?.inflight ?? []),
      ...members.map((m) => m.busy ?? Promise.resolve()),
    ]);
    // Anything launched while the first round ran (a restart past its `stopping` check).
    await Promise.all(members.map((m) => kill(m, "SIGKILL")));
    await Promise.all([...stallWorkers].map((w) => w.terminate()));
    process.off("exit", killAll);
    redis?.disconnect();
    await dropPrefix(prefix);
    if (!stopOpts.keep) removeDir(dataDir);
    log(stopOpts.keep ? `system stopped; data kept in ${dataDir}` : "system stopped");
  };

  return {
    apis: apiMembers.map((m) => m.base ?? ""),
    dataDir,
    dbPath,
    prefix,
    redisUrl: REDIS_URL,
    jwtSecret,
    adminToken,
    faults,
    pushes: () => pushes.slice(),
    downWindows: () => {
      const now = Date.now();
      return windows.map((w) => ({ from: w.from, to: w.to ?? now, target: w.target }));
    },
    crashes: () => crashes.slice(),
    processes: () => members.map((m) => ({ target: m.name, pid: m.child?.pid ?? null })),
    output: (target) => members.find((m) => m.name === target)?.tail.text() ?? "",
    startChaos,
    stopChaos,
    drain,
    stop,
  };
}
