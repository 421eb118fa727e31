import { Cluster, Redis } from "ioredis";
import type { RedisTarget } from "./redis.ts";

/**
 * Whether an error means "Redis cannot serve right now" (the client may retry), decided by
 * error type: the connection's error codes, ioredis's error class and its two fixed messages
 * for a connection that is not up, and the error codes Redis itself gives when it is loading,
 * failing over or out of memory. Anything else (a script bug, a wrong type) is not this.
 */
const SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "ENOTCONN",
  "EHOSTUNREACH",
]);
/** ioredis rejects with plain Errors carrying exactly these messages when no connection is up. */
const IOREDIS_NOT_CONNECTED = new Set([
  "Connection is closed.",
  "Stream isn't writeable and enableOfflineQueue options is false",
]);
/** Redis error codes (the reply's first word) that mean "not now". */
const REDIS_BUSY_CODES = new Set([
  "LOADING",
  "BUSY",
  "MASTERDOWN",
  "CLUSTERDOWN",
  "TRYAGAIN",
  "OOM",
  "READONLY",
]);

export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === "MaxRetriesPerRequestError") return true;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && SOCKET_CODES.has(code)) return true;
  if (IOREDIS_NOT_CONNECTED.has(err.message)) return true;
  if (err.name === "ReplyError") return REDIS_BUSY_CODES.has(err.message.split(" ", 1)[0] ?? "");
  return false;
}

/** Codes of a connection that never reached Redis, or lost it: Redis is away, nothing is wrong with a command. */
const CONNECTION_CODES = new Set([...SOCKET_CODES, "ENOTFOUND", "EAI_AGAIN"]);

/** What a connection error means, in words (the code alone tells a newcomer little). */
const CONNECTION_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused (nothing listens there)",
  ENOTFOUND: "the host name does not resolve",
  EAI_AGAIN: "the host name does not resolve (DNS)",
  ETIMEDOUT: "no answer (connect timed out)",
  EHOSTUNREACH: "the host is unreachable",
  ECONNRESET: "it closed the connection",
  EPIPE: "it closed the connection",
};

/**
 * The reason a connection failed, or null when the error is not about the connection. ("Not
 * connected" rejections are not failures of their own: the connection reports why.)
 */
function connectionFailure(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  // ioredis Cluster: no seed answered; the last node's error says why.
  if (err.name === "ClusterAllFailedError") {
    return connectionFailure((err as { lastNodeError?: unknown }).lastNodeError) ?? "no node answered";
  }
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && CONNECTION_CODES.has(code)) return CONNECTION_REASONS[code] ?? code;
  return null;
}

/**
 * The connection is down (Redis away, not busy nor wrong): what a periodic task can leave to
 * RedisErrorLog's line instead of logging each failure of its own.
 */
export function isConnectionDown(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === "MaxRetriesPerRequestError" ||
    IOREDIS_NOT_CONNECTED.has(err.message) ||
    connectionFailure(err) !== null
  );
}

type RedisLogger = {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
};

/** What emits Redis errors: ioredis connections, BullMQ queues and workers (which re-emit their connections'). */
type ErrorSource = { on(event: "error", listener: (err: Error) => void): unknown };

/**
 * The one report of Redis errors of a process (one instance per process: the API's, or a
 * pool's, shared by its own connections and startPool's). Every connection, queue and worker's 'error'
 * goes through `watch`: a connection failure (Redis not running, wrong address, a restart)
 * becomes one line that names the setting, where it points and how to start Redis, at most
 * every `everyMs` while it lasts, with no stack; any other error is logged with its message.
 * `/readyz` gives the same line as its reason while Redis is away.
 */
export class RedisErrorLog {
  readonly #logger: RedisLogger;
  /** host:port, or the cluster's seeds. */
  readonly #address: string;
  readonly #setting: "REDIS_URL" | "REDIS_CLUSTER_NODES";
  readonly #help: string;
  readonly #everyMs: number;
  /** Why the last connection attempt failed, while no connection has come up since. */
  #reason: string | null = null;
  /** When the outage line was last logged: one line however many sources retry. */
  #saidAt = Number.NEGATIVE_INFINITY;

  constructor(logger: RedisLogger, target: RedisTarget, everyMs = 5000) {
    this.#logger = logger;
    this.#everyMs = everyMs;
    if (target.clusterNodes) {
      this.#address = target.clusterNodes.map((n) => `${n.host}:${n.port}`).join(",");
      this.#setting = "REDIS_CLUSTER_NODES";
      this.#help = "start the cluster's nodes, or point REDIS_CLUSTER_NODES at them";
    } else {
      const url = new URL(target.url);
      this.#address = `${url.hostname}:${url.port || "6379"}`;
      this.#setting = "REDIS_URL";
      this.#help =
        "start it (redis-server --daemonize yes; to install it: apt-get install redis-server) or point REDIS_URL at yours";
    }
  }

  /** Routes the errors of each source here; a connection's `ready` ends an outage. */
  watch(sources: Record<string, ErrorSource>, level: "warn" | "error" = "warn"): void {
    for (const [name, source] of Object.entries(sources)) {
      source.on("error", (err) => this.#report(name, err, level));
      if (source instanceof Redis || source instanceof Cluster) source.on("ready", () => this.#up());
    }
  }

  /**
   * Why Redis cannot serve, while a connection error is the last thing heard of it (for
   * /readyz, which anyone may call: the setting and the reason, not the address).
   */
  get outage(): string | null {
    return this.#reason === null
      ? null
      : `Redis is not answering (${this.#setting}): ${this.#reason}; ${this.#help}`;
  }

  #report(source: string, err: Error, level: "warn" | "error"): void {
    // A command refused because its connection is down (a queue's start-up check): the
    // connection itself says why.
    if (IOREDIS_NOT_CONNECTED.has(err.message)) {
      this.#logger.debug({ source, err: err.message }, "redis not connected");
      return;
    }
    const reason = connectionFailure(err);
    if (reason === null) {
      this.#logger[level]({ source, err: err.message }, `${source} error`);
      return;
    }
    this.#reason = reason;
    const now = Date.now();
    if (now - this.#saidAt < this.#everyMs) return;
    this.#saidAt = now;
    this.#logger.warn(
      { source },
      `Redis is not answering at ${this.#address} (${this.#setting}): ${reason}; ${this.#help}. Retrying`,
    );
  }

  #up(): void {
    if (this.#reason === null) return;
    this.#reason = null;
    this.#saidAt = Number.NEGATIVE_INFINITY;
    this.#logger.info({ at: this.#address }, "Redis is answering");
  }
}
