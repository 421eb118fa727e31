/**
 * Connection capacity: N authenticated Socket.IO clients (websocket transport) held idle on ONE
 * API process (with the persist pool), each user in 5 group rooms, then two reconnect storms:
 *
 *   1. every client closes cleanly and reconnects at once, then syncs (`chats:sync`, then
 *      `messages:sync` paged until `has_more` is false, as web/src/chat.ts does);
 *   2. the API process is restarted under them (SIGTERM, started again on the same port) and
 *      every client reconnects and syncs again.
 *
 * The clients live in child generator processes (this file with `--role generator`, forked,
 * reporting over IPC): one process holding 15,000 sockets would sit near the 20,000 open-file
 * limit and on one core. Each generator spreads its clients over loopback source addresses
 * (127.0.0.2...), so no single (source, destination) pair runs out of ephemeral ports.
 *
 *   npm run bench:connections                            # N = 15,000, 4 generators, 1 cycle
 *   npm run bench:connections -- --clients 2000          # a quick check
 *   npm run bench:connections -- --cycles 5              # connect → idle → leave, 5 times
 *   BENCH_CLIENTS=2000 BENCH_GENERATORS=2 BENCH_SOURCES=4 npm run bench:connections
 *
 * Prints the API's RSS (before any client, N connected and idle, each storm's peak, after the
 * clients left), RSS per socket, idle CPU, connects per second, time to all synced, errors by
 * kind and the event-loop p99 of each storm, with the targets beside them; checks that the work
 * was done (bench/work-check.ts).
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { parseArgs } from "node:util";
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { z } from "zod";
import { signToken } from "../src/auth/jwt.ts";
import type { ClientToServerEvents, ServerToClientEvents } from "../src/contract/events.ts";
import { dropPrefix, removeDir, tempDir, testEnv, uniquePrefix } from "../test/helpers/env.ts";
import {
  type Proc,
  start,
  startApiProcess,
  startWorkerProcess,
  waitReady,
} from "../test/helpers/processes.ts";
import { WorkCheck } from "./work-check.ts";

const { values: args } = parseArgs({
  options: {
    role: { type: "string" },
    clients: { type: "string" },
    generators: { type: "string" },
    sources: { type: "string" },
    cycles: { type: "string" },
  },
  strict: true,
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** Tokens outlive the longest run (a socket is dropped when its token expires). */
const TOKEN_TTL_S = 6 * 3600;
/** What a client waits for an ack; the web client's own timeout is of this order. */
const ACK_TIMEOUT_MS = 30_000;
const PAGE_LIMIT = 100;
/** Room sizes, one layer each: every user is in exactly one room of each layer, so in 5 rooms. */
const LAYERS = [5, 10, 20, 25, 50];

// --- What the coordinator and the generators say to each other (IPC, checked on arrival) ---

const roundSchema = z.object({
  type: z.literal("round"),
  /** Per client, ms from the round's start to its first connect, and to its first full sync. */
  connectMs: z.array(z.number()),
  syncedMs: z.array(z.number()),
  messages: z.number(),
  rooms: z.number(),
  errors: z.record(z.string(), z.number()),
  complete: z.boolean(),
});
type RoundResult = z.infer<typeof roundSchema>;

const replySchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ready") }),
  z.object({ type: z.literal("armed") }),
  /** After a leave: sockets still connected, and errors seen outside any round (while idle). */
  z.object({ type: z.literal("left"), connected: z.number(), errors: z.record(z.string(), z.number()) }),
  z.object({ type: z.literal("failed"), error: z.string() }),
  roundSchema,
]);
type Reply = z.infer<typeof replySchema>;

const commandSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("init"),
    base: z.string(),
    secret: z.string(),
    users: z.array(z.string()),
    sources: z.array(z.string()),
    rampConcurrency: z.number().int().positive(),
    roundTimeoutMs: z.number().positive(),
  }),
  /** The initial ramp: connect every client, a bounded number at a time, each syncing. */
  z.object({ type: z.literal("connect"), at: z.number() }),
  /** Storm 1: every client closes cleanly and reconnects at once, each syncing. */
  z.object({ type: z.literal("storm"), at: z.number() }),
  /** Storm 2: the server is about to drop them all; wait until each reconnected and synced. */
  z.object({ type: z.literal("expect"), at: z.number() }),
  z.object({ type: z.literal("leave") }),
]);
type Command = z.infer<typeof commandSchema>;

// --- Generator (child process) ---

const errorAckSchema = z.object({ ok: z.literal(false), error: z.object({ code: z.string() }) });
const chatsAckSchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), rooms: z.array(z.unknown()), next_since: z.string() }),
  errorAckSchema,
]);
const messagesAckSchema = z.discriminatedUnion("ok", [
  z.object({
    ok: z.literal(true),
    messages: z.array(z.unknown()),
    next_since: z.string(),
    has_more: z.boolean(),
  }),
  errorAckSchema,
]);

class AckError extends Error {}

type Client = {
  socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  deviceId: string;
  roomsSince: string | undefined;
  messagesSince: string | undefined;
  /** Bumped on every connect: a sync begun on an older connection stops. */
  epoch: number;
  /** Whether the client should be connected (reconnects on a drop while true). */
  wanted: boolean;
  connectedMs: number | undefined;
  syncedMs: number | undefined;
  /** Resolves the ramp's wait for this client's connect. */
  onConnect: (() => void) | undefined;
};

type Round = {
  at: number;
  connected: number;
  synced: number;
  messages: number;
  rooms: number;
  errors: Map<string, number>;
  done: Promise<boolean>;
  finish: (complete: boolean) => void;
};

/** A connect error's message and its cause (ECONNREFUSED, EMFILE, EADDRNOTAVAIL...), addresses blanked. */
function describeConnectError(err: Error): string {
  const description: unknown = "description" in err ? err.description : undefined;
  const cause =
    typeof description === "object" && description !== null && "message" in description
      ? String(description.message)
      : "";
  return `${err.message}${cause ? ` (${cause})` : ""}`.replace(/\d+\.\d+\.\d+\.\d+(:\d+)?/g, "<addr>");
}

async function generator(): Promise<void> {
  const send = (reply: Reply) => process.send?.(reply);
  // The coordinator gone (killed, crashed): nothing left to report to.
  process.on("disconnect", () => process.exit(1));
  let clients: Client[] = [];
  let init: Extract<Command, { type: "init" }> | undefined;
  let round: Round | undefined;
  const lifetimeErrors = new Map<string, number>();

  const tally = (kind: string) => {
    const into = round?.errors ?? lifetimeErrors;
    into.set(kind, (into.get(kind) ?? 0) + 1);
  };

  const begin = (at: number): Round => {
    let finish: (complete: boolean) => void = () => {};
    const done = new Promise<boolean>((resolve) => {
      finish = resolve;
    });
    const r: Round = { at, connected: 0, synced: 0, messages: 0, rooms: 0, errors: new Map(), done, finish };
    for (const c of clients) {
      c.connectedMs = undefined;
      c.syncedMs = undefined;
    }
    const timer = setTimeout(() => r.finish(false), init?.roundTimeoutMs ?? 0);
    void done.then(() => clearTimeout(timer));
    round = r;
    return r;
  };

  const report = async (r: Round) => {
    const complete = await r.done;
    round = undefined;
    send({
      type: "round",
      connectMs: clients.flatMap((c) => (c.connectedMs === undefined ? [] : [c.connectedMs])),
      syncedMs: clients.flatMap((c) => (c.syncedMs === undefined ? [] : [c.syncedMs])),
      messages: r.messages,
      rooms: r.rooms,
      errors: Object.fromEntries(r.errors),
      complete,
    });
  };

  /** One emit and its ack, checked by `parse`; no ack in time throws. */
  const ask = async <T>(
    event: string,
    parse: (ack: unknown) => T,
    emit: () => Promise<unknown>,
  ): Promise<T> => {
    let ack: unknown;
    try {
      ack = await emit();
    } catch {
      throw new AckError(`${event} timed out`);
    }
    return parse(ack);
  };

  /** The web client's catch-up: `chats:sync`, then `messages:sync` pages; counts into the round. */
  const syncOnce = async (c: Client, epoch: number): Promise<boolean> => {
    const device = { device_id: c.deviceId };
    const chats = await ask(
      "chats:sync",
      (a) => chatsAckSchema.parse(a),
      () =>
        c.socket
          .timeout(ACK_TIMEOUT_MS)
          .emitWithAck("chats:sync", c.roomsSince ? { ...device, since: c.roomsSince } : device),
    );
    if (!chats.ok) throw new AckError(`chats:sync ${chats.error.code}`);
    if (c.epoch !== epoch) return false;
    c.roomsSince = chats.next_since;
    if (round) round.rooms += chats.rooms.length;
    for (;;) {
      const since = c.messagesSince;
      const page = await ask(
        "messages:sync",
        (a) => messagesAckSchema.parse(a),
        () =>
          c.socket
            .timeout(ACK_TIMEOUT_MS)
            .emitWithAck("messages:sync", since ? { ...device, since, limit: PAGE_LIMIT } : device),
      );
      if (!page.ok) throw new AckError(`messages:sync ${page.error.code}`);
      if (c.epoch !== epoch) return false;
      c.messagesSince = page.next_since;
      if (round) round.messages += page.messages.length;
      if (!page.has_more) return true;
    }
  };

  const syncLoop = async (c: Client, epoch: number) => {
    while (c.epoch === epoch && c.socket.connected) {
      try {
        if (!(await syncOnce(c, epoch))) return;
        const r = round;
        if (r && c.connectedMs !== undefined && c.syncedMs === undefined) {
          c.syncedMs = Date.now() - r.at;
          if (++r.synced === clients.length) r.finish(true);
        }
        return;
      } catch (err) {
        tally(
          err instanceof AckError
            ? `ack error: ${err.message}`
            : err instanceof z.ZodError
              ? "ack of an unexpected shape"
              : `sync: ${String(err)}`,
        );
        // As the web client: try again in 3 s while still connected.
        await sleep(3000);
      }
    }
  };

  const makeClient = (base: string, secret: string, user: string, source: string): Client => {
    const options: Partial<ManagerOptions & SocketOptions> & { localAddress: string } = {
      auth: { token: signToken(secret, user, { expiresInS: TOKEN_TTL_S }) },
      transports: ["websocket"],
      forceNew: true,
      autoConnect: false,
      // socket.io-client's defaults, explicit: retry forever, 1 s doubling to 5 s, ±50%.
      reconnection: true,
      reconnectionAttempts: Number.POSITIVE_INFINITY,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      randomizationFactor: 0.5,
      // A connect attempt that takes longer than this fails (then retried as above).
      timeout: 20_000,
      // Passed through engine.io-client to `ws`, then to the TCP connect: the source address.
      localAddress: source,
    };
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = io(base, options);
    const c: Client = {
      socket,
      deviceId: `bench-${user}`,
      roomsSince: undefined,
      messagesSince: undefined,
      epoch: 0,
      wanted: false,
      connectedMs: undefined,
      syncedMs: undefined,
      onConnect: undefined,
    };
    socket.on("connect", () => {
      const epoch = ++c.epoch;
      const r = round;
      if (r && c.connectedMs === undefined) {
        c.connectedMs = Date.now() - r.at;
        r.connected++;
      }
      c.onConnect?.();
      c.onConnect = undefined;
      void syncLoop(c, epoch);
    });
    socket.on("connect_error", (err) => {
      tally(`connect_error: ${describeConnectError(err)}`);
      // A refusal by the server's middleware is not retried by socket.io-client (the socket is
      // no longer active): retry after a jittered 1–5 s, as an app would.
      if (!socket.active && c.wanted)
        setTimeout(
          () => {
            if (c.wanted && !socket.connected && !socket.active) socket.connect();
          },
          1000 + Math.random() * 4000,
        );
    });
    socket.on("disconnect", (reason) => {
      if (!c.wanted || reason === "io client disconnect") return;
      tally(`disconnect: ${reason}`);
      // The server's own disconnect is not retried by socket.io-client: reconnect explicitly.
      if (reason === "io server disconnect") socket.connect();
    });
    return c;
  };

  const handle = async (cmd: Command) => {
    switch (cmd.type) {
      case "init": {
        init = cmd;
        const { base, secret, sources } = cmd;
        clients = cmd.users.map((u, i) => makeClient(base, secret, u, sources[i % sources.length] ?? ""));
        send({ type: "ready" });
        return;
      }
      case "connect": {
        const r = begin(cmd.at);
        let next = 0;
        // Bounded: at most rampConcurrency connects in flight in this generator.
        await Promise.all(
          Array.from({ length: init?.rampConcurrency ?? 1 }, async () => {
            for (let c = clients[next++]; c; c = clients[next++]) {
              const client = c;
              const connected = new Promise<void>((resolve) => {
                client.onConnect = resolve;
              });
              client.wanted = true;
              client.socket.connect();
              if (!(await Promise.race([connected.then(() => true), r.done.then(() => false)]))) return;
            }
          }),
        );
        await report(r);
        return;
      }
      case "storm": {
        const r = begin(cmd.at);
        for (const c of clients) {
          c.socket.disconnect();
          c.socket.connect();
        }
        await report(r);
        return;
      }
      case "expect": {
        const r = begin(cmd.at);
        send({ type: "armed" });
        await report(r);
        return;
      }
      case "leave": {
        for (const c of clients) {
          c.wanted = false;
          c.socket.disconnect();
        }
        send({
          type: "left",
          connected: clients.filter((c) => c.socket.connected).length,
          errors: Object.fromEntries(lifetimeErrors),
        });
        lifetimeErrors.clear();
        return;
      }
    }
  };

  process.on("message", (raw: unknown) => {
    handle(commandSchema.parse(raw)).catch((err: unknown) => {
      send({ type: "failed", error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      process.exit(1);
    });
  });
}

// --- Coordinator ---

class Generator {
  readonly child: ChildProcess;
  readonly #inbox: Reply[] = [];
  #waiter: (() => void) | undefined;
  #exited = false;

  constructor() {
    this.child = fork(import.meta.filename, ["--role", "generator"], {
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (raw: unknown) => {
      this.#inbox.push(replySchema.parse(raw));
      this.#waiter?.();
    });
    this.child.once("exit", () => {
      this.#exited = true;
      this.#waiter?.();
    });
  }

  send(cmd: Command): void {
    this.child.send(cmd);
  }

  /** The next reply, which must be of `type`. */
  async next<T extends Reply["type"]>(type: T): Promise<Extract<Reply, { type: T }>> {
    for (;;) {
      const reply = this.#inbox.shift();
      if (reply) {
        if (reply.type === "failed") throw new Error(`generator ${this.child.pid} failed: ${reply.error}`);
        if (reply.type !== type)
          throw new Error(`generator ${this.child.pid}: ${reply.type}, expected ${type}`);
        return reply as Extract<Reply, { type: T }>;
      }
      if (this.#exited) throw new Error(`generator ${this.child.pid} exited`);
      await new Promise<void>((resolve) => {
        this.#waiter = resolve;
      });
      this.#waiter = undefined;
    }
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}

async function coordinator(): Promise<void> {
  const opts = z
    .object({
      BENCH_CLIENTS: z.coerce.number().int().min(50).default(15_000),
      BENCH_GENERATORS: z.coerce.number().int().positive().default(4),
      /** Loopback source addresses 127.0.0.2 onwards, round-robin over each generator's clients. */
      BENCH_SOURCES: z.coerce.number().int().min(1).max(250).default(8),
      /** connect → idle → leave, this many times (the storms run in the first). */
      BENCH_CYCLES: z.coerce.number().int().positive().default(1),
      BENCH_SETTLE_S: z.coerce.number().nonnegative().default(10),
      BENCH_IDLE_S: z.coerce.number().positive().default(10),
      /** A ramp or storm not complete after this long is reported as it stands. */
      BENCH_ROUND_TIMEOUT_S: z.coerce.number().positive().default(300),
      /** Messages sent to each room before each storm, so each sync has work. */
      BENCH_MESSAGES_PER_ROOM: z.coerce.number().int().nonnegative().default(1),
      BENCH_REST_CONCURRENCY: z.coerce.number().int().positive().default(32),
      /** Connects in flight per generator during the initial ramp. */
      BENCH_RAMP_CONCURRENCY: z.coerce.number().int().positive().default(100),
    })
    .parse({
      ...process.env,
      ...(args.clients ? { BENCH_CLIENTS: args.clients } : {}),
      ...(args.generators ? { BENCH_GENERATORS: args.generators } : {}),
      ...(args.sources ? { BENCH_SOURCES: args.sources } : {}),
      ...(args.cycles ? { BENCH_CYCLES: args.cycles } : {}),
    });
  const N = opts.BENCH_CLIENTS;
  const G = Math.min(opts.BENCH_GENERATORS, N);
  const sources = Array.from({ length: opts.BENCH_SOURCES }, (_, i) => `127.0.0.${i + 2}`);
  const work = new WorkCheck();
  const prefix = uniquePrefix("bench-conn");
  const dataDir = tempDir("bench-conn");
  // A secret of this run's own, set for the API; the tokens are minted with it.
  const secret = randomBytes(24).toString("hex");
  const env = testEnv(prefix, dataDir, { JWT_SECRET: secret, LOG_LEVEL: "warn" });
  const users = Array.from({ length: N }, (_, i) => `cu${i}`);
  const admin = signToken(secret, "bench-ops", { admin: true, expiresInS: TOKEN_TTL_S });
  const tokens = new Map<string, string>();
  const tokenOf = (u: string) => {
    const known = tokens.get(u);
    if (known) return known;
    const t = signToken(secret, u, { expiresInS: TOKEN_TTL_S });
    tokens.set(u, t);
    return t;
  };

  let api: Proc | undefined;
  let worker: Proc | undefined;
  const generators: Generator[] = [];
  let cleaned: Promise<void> | undefined;
  const stopProc = async (p: Proc | undefined) => {
    if (!p) return;
    const killer = setTimeout(() => void p.stop("SIGKILL"), 15_000);
    await p.stop("SIGTERM");
    clearTimeout(killer);
  };
  // Every child killed, the Redis prefix dropped and the temp dir removed, whatever happened.
  const cleanup = () =>
    (cleaned ??= (async () => {
      for (const g of generators) g.kill();
      await Promise.all([stopProc(api), stopProc(worker)]);
      await dropPrefix(prefix).catch((err: unknown) => console.error("dropPrefix failed:", err));
      removeDir(dataDir);
    })());
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));

  // --- Measurements of the API process, from /proc ---
  const TICKS_PER_S = 100;
  let apiPid = 0;
  const rssKb = (pid: number): number => {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    } catch {
      return Number.NaN; // between the old process's exit and the new one's start
    }
  };
  const fds = (pid: number): number => {
    try {
      return readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      return Number.NaN;
    }
  };
  const cpuSeconds = (pid: number): number => {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
  };
  type Cpu = { api: number; generators: number };
  /** From now until the returned function is called: CPU of the API and of all generators, in cores. */
  const cpuFrom = (): (() => Cpu) => {
    const pid = apiPid;
    const t = performance.now();
    const gens = () => generators.reduce((a, g) => a + (g.child.pid ? cpuSeconds(g.child.pid) : 0), 0);
    const api0 = cpuSeconds(pid);
    const gen0 = gens();
    return () => {
      const wall = (performance.now() - t) / 1000;
      return { api: (cpuSeconds(pid) - api0) / wall, generators: (gens() - gen0) / wall };
    };
  };
  /** Peak RSS (every 200 ms) and open files (every 1 s) of the API within a window. */
  const peaks = { rss: 0, fds: 0 };
  let ticks = 0;
  const sampler = setInterval(() => {
    const rss = rssKb(apiPid);
    if (rss > peaks.rss) peaks.rss = rss;
    if (ticks++ % 5 === 0) {
      const open = fds(apiPid);
      if (open > peaks.fds) peaks.fds = open;
    }
  }, 200);
  sampler.unref();
  const openWindow = () => {
    peaks.rss = rssKb(apiPid);
    peaks.fds = fds(apiPid);
  };

  let base = "";
  /**
   * The API's event-loop delay p99 since the last scrape (prom-client resets it on each); NaN
   * when the API could not be reached in three tries (its listen queue full in a storm).
   */
  const loopP99Ms = async (): Promise<number> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await fetch(`${base}/metrics`, {
          headers: { authorization: `Bearer ${admin}` },
          signal: AbortSignal.timeout(30_000),
        });
        const text = await res.text();
        if (res.status !== 200) throw new Error(`/metrics: HTTP ${res.status}`);
        return Number(/^nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1] ?? Number.NaN) * 1000;
      } catch (err) {
        if (err instanceof Error && err.message.startsWith("/metrics")) throw err;
        await sleep(1000);
      }
    }
    return Number.NaN;
  };

  const restErrors = new Map<string, number>();
  const restTally = (kind: string) => restErrors.set(kind, (restErrors.get(kind) ?? 0) + 1);
  /** A REST call as `user`; a 503 is retried after its Retry-After (up to 5 times). */
  const rest = async (user: string, method: string, path: string, body: unknown) => {
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await fetch(`${base}/api/v1/chat${path}`, {
          method,
          headers: { authorization: `Bearer ${tokenOf(user)}`, "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
      } catch (err) {
        restTally(
          err instanceof Error && err.name === "TimeoutError" ? "REST timeout" : "REST network error",
        );
        throw err;
      }
      const text = await res.text();
      if (res.status === 503 && attempt < 5) {
        const retryAfter = res.headers.get("retry-after");
        restTally(retryAfter === null ? "REST 503 without Retry-After" : "REST 503 with Retry-After");
        await sleep(Math.max(1, Number(retryAfter) || 1) * 1000);
        continue;
      }
      if (res.status >= 400) restTally(`REST ${res.status}`);
      const parsed: unknown = text ? JSON.parse(text) : null;
      return { status: res.status, body: parsed };
    }
  };
  /** Runs `fn` over `items`, `limit` at a time. */
  const forEachLimit = async <T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: limit }, async () => {
        for (let i = next++; i < items.length; i = next++) await fn(items[i] as T, i);
      }),
    );
  };

  /** Layer l splits a shuffled list of the users into rooms of about LAYERS[l] members. */
  const roomPlan = (): string[][] => {
    const rooms: string[][] = [];
    LAYERS.forEach((size, layer) => {
      // A seeded shuffle (mulberry32) per layer, so rooms mix users of every generator.
      let seed = 0x9e3779b9 ^ (layer * 7919);
      const random = () => {
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      const order = [...users];
      if (layer > 0)
        for (let i = order.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [order[i], order[j]] = [order[j] as string, order[i] as string];
        }
      const count = Math.ceil(N / size);
      for (let k = 0; k < count; k++)
        rooms.push(order.slice(Math.floor((k * N) / count), Math.floor(((k + 1) * N) / count)));
    });
    return rooms;
  };

  const roomCreated = z.object({ room: z.object({ id: z.string() }) });
  type Room = { id: string; creator: string };
  let sendRound = 0;
  /** M messages to every room, from its creator, so the next sync has work. */
  const sendMessages = async (rooms: Room[]): Promise<number> => {
    const round = ++sendRound;
    let accepted = 0;
    await forEachLimit(rooms, opts.BENCH_REST_CONCURRENCY, async (room, i) => {
      for (let m = 0; m < opts.BENCH_MESSAGES_PER_ROOM; m++) {
        const res = await rest(room.creator, "POST", `/rooms/${room.id}/messages`, {
          client_id: `conn-${round}-${i}-${m}`,
          type: "text",
          text: `before storm ${round}`,
        });
        if (res.status === 201) accepted++;
      }
    });
    return accepted;
  };

  type RoundSummary = {
    connected: number;
    synced: number;
    messages: number;
    rooms: number;
    complete: boolean;
    firstConnectMs: number;
    lastConnectMs: number;
    lastSyncedMs: number;
    errors: Map<string, number>;
  };
  const summarize = (results: RoundResult[]): RoundSummary => {
    const connectMs = results.flatMap((r) => r.connectMs);
    const syncedMs = results.flatMap((r) => r.syncedMs);
    const errors = new Map<string, number>();
    for (const r of results)
      for (const [k, v] of Object.entries(r.errors)) errors.set(k, (errors.get(k) ?? 0) + v);
    return {
      connected: connectMs.length,
      synced: syncedMs.length,
      messages: results.reduce((a, r) => a + r.messages, 0),
      rooms: results.reduce((a, r) => a + r.rooms, 0),
      complete: results.every((r) => r.complete),
      firstConnectMs: connectMs.length ? Math.min(...connectMs) : Number.NaN,
      lastConnectMs: connectMs.length ? Math.max(...connectMs) : Number.NaN,
      lastSyncedMs: syncedMs.length ? Math.max(...syncedMs) : Number.NaN,
      errors,
    };
  };
  const roundOf = async (cmd: Command): Promise<RoundSummary> => {
    for (const g of generators) g.send(cmd);
    return summarize(await Promise.all(generators.map((g) => g.next("round"))));
  };
  /** Connects per second from the round's start to its last connect. */
  const connectsPerS = (s: RoundSummary) => s.connected / Math.max(0.001, s.lastConnectMs / 1000);

  try {
    const t0 = Date.now();
    const firstApi = await startApiProcess(env);
    api = firstApi;
    base = firstApi.base;
    apiPid = firstApi.child.pid ?? 0;
    worker = startWorkerProcess(env, "persist");
    console.log(
      `connections: N=${N}, ${G} generators, ${sources.length} source addresses (${sources[0]}…), ${opts.BENCH_CYCLES} cycle(s); API pid ${apiPid} on ${base}`,
    );

    // Setup over REST, a few dozen requests at once: a device per user, then the rooms.
    await forEachLimit(users, opts.BENCH_REST_CONCURRENCY, async (u) => {
      const res = await rest(u, "POST", "/devices", {
        device_id: `bench-${u}`,
        platform: "web",
        app_version: "bench-1",
      });
      if (res.status !== 201 && res.status !== 200) throw new Error(`POST /devices for ${u}: ${res.status}`);
    });
    const plan = roomPlan();
    const rooms: Room[] = [];
    await forEachLimit(plan, opts.BENCH_REST_CONCURRENCY, async (members, i) => {
      const [creator, ...others] = members;
      if (!creator) return;
      const res = await rest(creator, "POST", "/rooms", {
        type: "group",
        name: `bench ${i}`,
        member_ids: others,
      });
      if (res.status !== 201) throw new Error(`POST /rooms: ${res.status} ${JSON.stringify(res.body)}`);
      rooms.push({ id: roomCreated.parse(res.body).room.id, creator });
    });
    const memberships = plan.reduce((a, m) => a + m.length, 0);
    work.equal("rooms created", rooms.length, plan.length);
    work.equal("memberships (5 rooms per user)", memberships, 5 * N);
    const sizes = plan.map((m) => m.length);
    console.log(
      `setup: ${N} devices, ${rooms.length} rooms of ${Math.min(...sizes)}–${Math.max(...sizes)} members in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );

    const perGenerator = Math.ceil(N / G);
    for (let g = 0; g < G; g++) {
      const gen = new Generator();
      generators.push(gen);
      gen.send({
        type: "init",
        base,
        secret,
        users: users.slice(g * perGenerator, (g + 1) * perGenerator),
        sources,
        rampConcurrency: opts.BENCH_RAMP_CONCURRENCY,
        roundTimeoutMs: opts.BENCH_ROUND_TIMEOUT_S * 1000,
      });
    }
    await Promise.all(generators.map((g) => g.next("ready")));

    await sleep(opts.BENCH_SETTLE_S * 1000);
    const rssBefore = rssKb(apiPid);
    const fdsBefore = fds(apiPid);

    type Cycle = { connectedKb: number; afterKb: number; ramp: RoundSummary; rampCpu: Cpu };
    const cycles: Cycle[] = [];
    /** Errors the generators saw outside the ramps and storms (idle drops and their reconnects). */
    const idleErrors = new Map<string, number>();
    let idle = { cpu: Number.NaN, loopP99: Number.NaN, fds: Number.NaN };
    let storm1: (RoundSummary & { cpu: Cpu; peakKb: number; peakFds: number; loopP99: number }) | undefined;
    let storm2:
      | (RoundSummary & {
          cpu: Cpu;
          peakKb: number;
          peakFds: number;
          loopP99: number;
          exitMs: number;
          readyMs: number;
        })
      | undefined;

    for (let cycle = 1; cycle <= opts.BENCH_CYCLES; cycle++) {
      const rampCpu = cpuFrom();
      const ramp = await roundOf({ type: "connect", at: Date.now() });
      const rampCpuUsed = rampCpu();
      console.log(
        `cycle ${cycle}: ${ramp.connected} connected in ${(ramp.lastConnectMs / 1000).toFixed(1)} s (${connectsPerS(ramp).toFixed(0)}/s), all synced after ${(ramp.lastSyncedMs / 1000).toFixed(1)} s`,
      );
      work.equal(`cycle ${cycle} ramp: clients connected and synced`, ramp.synced, N);
      // The first sync of a device has no cursor: it lists every room of the user.
      if (cycle === 1) work.equal("ramp: rooms listed by the first chats:sync", ramp.rooms, 5 * N);
      await sleep(opts.BENCH_SETTLE_S * 1000);
      const connectedKb = rssKb(apiPid);
      if (cycle === 1) {
        // Idle: CPU and event-loop delay over a window with N sockets doing nothing but pings.
        await loopP99Ms();
        const cpu0 = cpuSeconds(apiPid);
        const w0 = performance.now();
        await sleep(opts.BENCH_IDLE_S * 1000);
        const cpu = (cpuSeconds(apiPid) - cpu0) / ((performance.now() - w0) / 1000);
        idle = { cpu, loopP99: await loopP99Ms(), fds: fds(apiPid) };
        console.log(
          `idle: API CPU ${(cpu * 100).toFixed(1)}% of a core, RSS ${(connectedKb / 1024).toFixed(0)} MB`,
        );

        // Storm 1: every client closes cleanly and reconnects at once.
        work.equal(
          "storm 1: messages sent before it",
          await sendMessages(rooms),
          rooms.length * opts.BENCH_MESSAGES_PER_ROOM,
        );
        await sleep(2000); // the broadcasts of those sends land before the storm
        await loopP99Ms();
        openWindow();
        const s1Cpu = cpuFrom();
        const s1 = await roundOf({ type: "storm", at: Date.now() });
        storm1 = { ...s1, cpu: s1Cpu(), peakKb: peaks.rss, peakFds: peaks.fds, loopP99: await loopP99Ms() };
        console.log(
          `storm 1: ${s1.connected} reconnected by ${(s1.lastConnectMs / 1000).toFixed(1)} s, ${s1.synced} synced by ${(s1.lastSyncedMs / 1000).toFixed(1)} s`,
        );
        work.equal("storm 1: clients synced", s1.synced, N);
        work.equal("storm 1: rooms changed, synced", s1.rooms, 5 * N);
        work.equal("storm 1: messages synced", s1.messages, 5 * N * opts.BENCH_MESSAGES_PER_ROOM);

        // Storm 2: the API restarted under them, on the same port.
        work.equal(
          "storm 2: messages sent before it",
          await sendMessages(rooms),
          rooms.length * opts.BENCH_MESSAGES_PER_ROOM,
        );
        await sleep(2000);
        const at = Date.now();
        for (const g of generators) g.send({ type: "expect", at });
        await Promise.all(generators.map((g) => g.next("armed")));
        const old = api;
        const exitCode = await old.stop("SIGTERM");
        const exitMs = Date.now() - at;
        if (exitCode !== 0) console.log(`the API exited with ${exitCode} on SIGTERM`);
        const port = new URL(base).port;
        api = start("src/main.ts", [], { PUBLIC_URL: base, ...env, PORT: port });
        apiPid = api.child.pid ?? 0;
        // The storm's peak is the new process's: the old one's RSS while it shut down is not load.
        openWindow();
        await waitReady(base, 60_000);
        const readyMs = Date.now() - at;
        // From the new process's ready: its boot is not the reconnections' cost.
        const s2Cpu = cpuFrom();
        const results = await Promise.all(generators.map((g) => g.next("round")));
        const s2 = summarize(results);
        const s2CpuUsed = s2Cpu();
        // The new process's histogram covers its whole life so far: the storm.
        storm2 = {
          ...s2,
          cpu: s2CpuUsed,
          peakKb: peaks.rss,
          peakFds: peaks.fds,
          loopP99: await loopP99Ms(),
          exitMs,
          readyMs,
        };
        console.log(
          `storm 2: old API exited after ${(exitMs / 1000).toFixed(1)} s, new one ready after ${(readyMs / 1000).toFixed(1)} s; ${s2.connected} reconnected by ${(s2.lastConnectMs / 1000).toFixed(1)} s, ${s2.synced} synced by ${(s2.lastSyncedMs / 1000).toFixed(1)} s`,
        );
        work.equal("storm 2: clients synced", s2.synced, N);
        work.equal("storm 2: rooms changed, synced", s2.rooms, 5 * N);
        work.equal("storm 2: messages synced", s2.messages, 5 * N * opts.BENCH_MESSAGES_PER_ROOM);
      }
      for (const g of generators) g.send({ type: "leave" });
      const left = await Promise.all(generators.map((g) => g.next("left")));
      for (const l of left)
        for (const [k, v] of Object.entries(l.errors)) idleErrors.set(k, (idleErrors.get(k) ?? 0) + v);
      work.equal(
        `cycle ${cycle}: clients still connected after leaving`,
        left.reduce((a, l) => a + l.connected, 0),
        0,
      );
      await sleep(opts.BENCH_SETTLE_S * 1000);
      const afterKb = rssKb(apiPid);
      console.log(
        `cycle ${cycle}: RSS connected ${(connectedKb / 1024).toFixed(0)} MB, after leaving ${(afterKb / 1024).toFixed(0)} MB`,
      );
      cycles.push({ connectedKb, afterKb, ramp, rampCpu: rampCpuUsed });
    }

    // --- The table ---
    const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const ms1 = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(1)} ms` : "n/a");
    const verdict = (ok: boolean) => (ok ? "PASS" : "MISS");
    const CAP_KB = 750 * 1024;
    const first = cycles[0];
    const last = cycles.at(-1);
    if (!first || !last || !storm1 || !storm2) throw new Error("no cycle ran");
    const perSocketKb = (first.connectedKb - rssBefore) / N;
    const rows: [string, string, string, string][] = [
      ["API RSS before any client", mb(rssBefore), "", ""],
      [`API RSS, ${N} connected (idle, settled ${opts.BENCH_SETTLE_S} s)`, mb(first.connectedKb), "", ""],
      [
        "RSS per connected socket ((connected − before) / N)",
        `${perSocketKb.toFixed(1)} kB`,
        "≤ 30 kB",
        verdict(perSocketKb <= 30),
      ],
      [
        "API RSS peak, storm 1 (all reconnect)",
        mb(storm1.peakKb),
        "< 750 MB",
        verdict(storm1.peakKb < CAP_KB),
      ],
      ["API RSS peak, storm 2 (API restart)", mb(storm2.peakKb), "< 750 MB", verdict(storm2.peakKb < CAP_KB)],
      [
        "API RSS after all clients left (settled)",
        mb(last.afterKb),
        "< 750 MB",
        verdict(last.afterKb < CAP_KB),
      ],
      [
        `API idle CPU (${opts.BENCH_IDLE_S} s window, N connected)`,
        `${(idle.cpu * 100).toFixed(2)}% of a core`,
        "≤ 5%",
        verdict(idle.cpu <= 0.05),
      ],
      ["connects/s: initial ramp", connectsPerS(first.ramp).toFixed(0), "", ""],
      ["connects/s: storm 1", connectsPerS(storm1).toFixed(0), "", ""],
      [
        "connects/s: storm 2 (from the first reconnect)",
        (storm2.connected / Math.max(0.001, (storm2.lastConnectMs - storm2.firstConnectMs) / 1000)).toFixed(
          0,
        ),
        "",
        "",
      ],
      [
        "initial ramp: all connected / all synced",
        `${s(first.ramp.lastConnectMs)} / ${s(first.ramp.lastSyncedMs)}`,
        "",
        "",
      ],
      [
        "storm 1: all reconnected / all synced",
        `${s(storm1.lastConnectMs)} / ${s(storm1.lastSyncedMs)} (${storm1.synced}/${N})`,
        "synced ≤ 60 s",
        verdict(storm1.synced === N && storm1.lastSyncedMs <= 60_000),
      ],
      ["storm 2: old API exited / new API ready", `${s(storm2.exitMs)} / ${s(storm2.readyMs)}`, "", ""],
      [
        "storm 2: all reconnected / all synced (from SIGTERM)",
        `${s(storm2.lastConnectMs)} / ${s(storm2.lastSyncedMs)} (${storm2.synced}/${N})`,
        "synced ≤ 60 s",
        verdict(storm2.synced === N && storm2.lastSyncedMs <= 60_000),
      ],
      [
        "event-loop delay p99: idle / storm 1 / storm 2",
        `${ms1(idle.loopP99)} / ${ms1(storm1.loopP99)} / ${ms1(storm2.loopP99)}`,
        "",
        "",
      ],
      [
        "API open files: before / connected / storm 1 peak / storm 2 peak",
        `${fdsBefore} / ${idle.fds} / ${storm1.peakFds} / ${storm2.peakFds}`,
        "< 20,000",
        verdict(Math.max(storm1.peakFds, storm2.peakFds) < 20_000),
      ],
      [
        `CPU in cores, API / ${G} generators: ramp, storm 1, storm 2 (from ready); ${availableParallelism()} cores here`,
        [first.rampCpu, storm1.cpu, storm2.cpu]
          .map((c) => `${c.api.toFixed(2)} / ${c.generators.toFixed(2)}`)
          .join(", "),
        "",
        "",
      ],
      ["messages synced: storm 1 / storm 2", `${storm1.messages} / ${storm2.messages}`, "", ""],
    ];
    console.log(`\n### ${N} clients, ${G} generators, ${sources.length} source addresses\n`);
    console.log("| | measured | target | |");
    console.log("|---|---|---|---|");
    for (const r of rows) console.log(`| ${r.join(" | ")} |`);

    const phases: [string, Map<string, number>][] = [
      ["setup (REST)", restErrors],
      ["initial ramp", first.ramp.errors],
      ["storm 1", storm1.errors],
      ["storm 2", storm2.errors],
      ...cycles
        .slice(1)
        .map((c, i): [string, Map<string, number>] => [`ramp, cycle ${i + 2}`, c.ramp.errors]),
      ["idle (all cycles)", idleErrors],
    ];
    const kinds = [...new Set(phases.flatMap(([, m]) => [...m.keys()]))].sort();
    console.log("\nErrors by kind:\n");
    if (kinds.length === 0) console.log("none");
    else {
      console.log(`| kind | ${phases.map(([p]) => p).join(" | ")} |`);
      console.log(`|---|${phases.map(() => "---|").join("")}`);
      for (const k of kinds) console.log(`| ${k} | ${phases.map(([, m]) => m.get(k) ?? 0).join(" | ")} |`);
    }

    console.log(
      "\nCycles (connect → idle → leave; storms in cycle 1, so its figures after leaving are the restarted API's):\n",
    );
    console.log("| cycle | RSS connected | RSS after leaving |");
    console.log("|---|---|---|");
    for (const [i, c] of cycles.entries())
      console.log(`| ${i + 1} | ${mb(c.connectedKb)} | ${mb(c.afterKb)} |`);
    if (cycles.length > 1)
      console.log(
        `\nRSS after cycle ${cycles.length} ≤ after cycle 1: ${mb(last.afterKb)} vs ${mb(first.afterKb)}: ${verdict(last.afterKb <= first.afterKb)}`,
      );
  } finally {
    clearInterval(sampler);
    await cleanup();
  }
  work.finish();
}

if (args.role === "generator") await generator();
else await coordinator();
