import { randomBytes } from "node:crypto";
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { type PoolConfig, type PoolName, parsePools, poolKeys } from "../queues/pools.ts";
import type { RedisTarget } from "../redis/redis.ts";

const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === "" ? undefined : v));

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: int(3000),
  HOST: z.string().default("0.0.0.0"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).default("redis://127.0.0.1:6379"),
  /**
   * Redis Cluster seed nodes, `host:port,host:port,...`: set, every connection is a cluster
   * client and REDIS_URL is not used.
   */
  REDIS_CLUSTER_NODES: optionalString.pipe(
    z
      .string()
      .regex(/^[A-Za-z0-9.-]+:\d{1,5}(,[A-Za-z0-9.-]+:\d{1,5})*$/, "host:port,host:port,...")
      .optional(),
  ),
  /**
   * Replicas a send's Redis writes must reach before it is acknowledged (WAIT); 0 answers as
   * soon as the master has them (Redis replicates asynchronously: a failover may lose the last
   * acknowledged messages).
   */
  REDIS_WAIT_REPLICAS: int(0, 0),
  /** How long a send waits for REDIS_WAIT_REPLICAS before answering 503. */
  REDIS_WAIT_TIMEOUT_MS: int(1000, 1),
  /**
   * Production only: start on a Redis that can lose the last acknowledged messages in an OS
   * crash or power loss (neither `appendfsync always` nor REDIS_WAIT_REPLICAS >= 1 with
   * automatic failover). Off: such a Redis is refused at start.
   */
  REDIS_ALLOW_LOSS_ON_OS_CRASH: bool.default(false),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,40}$/, "1-40 chars of [A-Za-z0-9_.-] (no ':', BullMQ forbids it)")
    .default("chat"),
  JWT_SECRET: optionalString,
  JWT_PUBLIC_KEY: optionalString,
  JWT_ISSUER: optionalString,
  JWT_AUDIENCE: optionalString,
  DATA_DIR: z.string().default("./data"),
  SQLITE_BUSY_TIMEOUT_MS: int(10000, 0),
  STORE: z.enum(["sqlite", "couchbase"]).default("sqlite"),
  /** STORE=couchbase: e.g. couchbase://cb1,cb2 (couchbases:// for TLS). */
  COUCHBASE_CONNSTR: optionalString,
  COUCHBASE_USERNAME: optionalString,
  COUCHBASE_PASSWORD: optionalString,
  COUCHBASE_BUCKET: z
    .string()
    .regex(/^[A-Za-z0-9_.%-]{1,100}$/)
    .default("chat"),
  COUCHBASE_SCOPE: z
    .string()
    .regex(/^[A-Za-z0-9_%-]{1,251}$/)
    .default("chat"),
  /** Start fails after this long without a cluster (the SDK's bootstrap timeout). */
  COUCHBASE_BOOTSTRAP_TIMEOUT_MS: int(10_000, 100),
  COUCHBASE_KV_TIMEOUT_MS: int(2500, 10),
  COUCHBASE_QUERY_TIMEOUT_MS: int(10_000, 10),
  GROUP_MAX_MEMBERS: int(1024, 2),
  MESSAGE_MAX_CHARS: int(5000, 1),
  MESSAGE_MAX_MENTIONS: int(50, 1),
  IDEMPOTENCY_TTL_S: int(600, 60),
  EDIT_WINDOW_S: int(900, 0),
  /** Per-user rate limits (shared by every node): 0 turns the send limit off. */
  SEND_RATE_PER_S: int(20, 0),
  MESSAGE_OPS_RATE_PER_S: int(10, 1),
  ROOM_CREATES_PER_MIN: int(30, 1),
  MEMBER_ADDS_PER_MIN: int(60, 1),
  TYPING_RATE_PER_S: int(5, 1),
  MEDIA_UPLOADS_PER_MIN: int(60, 1),
  /** Demo tokens per minute per client address (only while DEMO_LOGIN is on). */
  DEMO_LOGINS_PER_MIN: int(20, 1),
  /** Registered devices per user (each gets pushes and keeps sync cursors). */
  DEVICES_MAX_PER_USER: int(20, 1),
  /** A typing indicator ends by itself this long after the last typing:start. */
  TYPING_EXPIRE_MS: int(6000, 100),
  /** A node is taken for dead this long after its last heartbeat; its users go offline at a live node's next beat. */
  PRESENCE_TTL_MS: int(10_000, 500),
  PRESENCE_HEARTBEAT_MS: int(3000, 100),
  /** Load shedding (src/realtime/admission.ts): new socket sessions under way at most; more get 503 + Retry-After. */
  SOCKET_MAX_HANDSHAKES: int(1024, 1),
  /** ... and while recent handshakes took longer than this (a queue is building; clients give up at 20 s). */
  SOCKET_SLOW_HANDSHAKE_MS: int(2000, 1),
  DELETE_WINDOW_S: int(172_800, 0),
  MEMBERSHIP_CACHE_TTL_S: int(3600, 1),
  PERSIST_BATCH_MS: int(5, 0),
  PERSIST_BATCH_MAX: int(500, 1),
  PERSIST_JOB_INTERVAL_MS: int(20, 0),
  PENDING_RESCUE_AFTER_S: int(30, 1),
  PENDING_RESCUE_EVERY_MS: int(10_000, 100),
  PENDING_RESCUE_MAX: int(5000, 1),
  /** Back-pressure: sends answer 503 while this much waits for the persist pool. */
  PENDING_MAX_MESSAGES: int(200_000, 1),
  PENDING_MAX_BYTES: int(256 * 1024 * 1024, 1024),
  SHUTDOWN_TIMEOUT_MS: int(10000, 100),
  /**
   * Worker pools serve Prometheus metrics on METRICS_PORT + 10 × pool index (persist 0, media 1,
   * fanout 2, notify 3) + the PM2 instance number, API instances on METRICS_PORT + 40 +
   * instance (besides /metrics on PORT); 0 turns them off.
   */
  METRICS_PORT: int(9400, 0),
  METRICS_HOST: z.string().default("127.0.0.1"),
  TRUST_PROXY: bool.default(false),
  /** One log line per HTTP request at info (method, path, status, duration, request id). */
  HTTP_REQUEST_LOG: bool.default(true),
  /** Base URL clients reach this API at; signed local media URLs start with it. */
  PUBLIC_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  MEDIA_STORAGE: z.enum(["local", "s3"]).default("local"),
  /** HMAC key of local media URLs; generated into DATA_DIR when unset. */
  MEDIA_SIGNING_SECRET: optionalString,
  MEDIA_UPLOAD_URL_TTL_S: int(900, 30),
  MEDIA_URL_TTL_S: int(3600, 30),
  MEDIA_MAX_IMAGE_BYTES: int(16 * 1024 * 1024, 1),
  MEDIA_MAX_VIDEO_BYTES: int(64 * 1024 * 1024, 1),
  MEDIA_MAX_AUDIO_BYTES: int(16 * 1024 * 1024, 1),
  MEDIA_MAX_FILE_BYTES: int(100 * 1024 * 1024, 1),
  /** Per user: bytes of uploads started per upload URL lifetime (each URL can hold storage until it expires). */
  MEDIA_PENDING_MAX_BYTES: int(1024 * 1024 * 1024, 1),
  /** A PUT to a local upload URL must finish its body within this long (slow bodies hold disk). */
  MEDIA_PUT_BODY_TIMEOUT_S: int(120, 1),
  /** MEDIA_STORAGE=local: uploads answer 503 while the media disk has less free space than this. */
  MEDIA_MIN_FREE_BYTES: int(1024 * 1024 * 1024, 0),
  /** Images above this many pixels end `failed` instead of being decoded (decompression bombs). */
  MEDIA_MAX_PIXELS: int(50_000_000, 1),
  MEDIA_FFMPEG_TIMEOUT_MS: int(30_000, 1000),
  /** An image whose thumbnail takes longer fails (decode bombs within the pixel limit). */
  MEDIA_IMAGE_TIMEOUT_S: int(20, 1),
  FFMPEG_PATH: z.string().default("ffmpeg"),
  FFPROBE_PATH: z.string().default("ffprobe"),
  S3_ENDPOINT: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  S3_REGION: z.string().default("auto"),
  S3_BUCKET: optionalString,
  S3_ACCESS_KEY_ID: optionalString,
  S3_SECRET_ACCESS_KEY: optionalString,
  /** Path-style URLs (MinIO, s3rver); R2 and AWS work either way. */
  S3_FORCE_PATH_STYLE: bool.default(false),
  /**
   * A public CDN base URL for the bucket (R2 custom domain): downloads then use it with the
   * unguessable key instead of a signed, expiring URL.
   */
  S3_PUBLIC_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  /** `log` records each push in the notify pool's log (no text, no token); `fcm` sends through Firebase. */
  PUSH_PROVIDER: z.enum(["log", "fcm"]).default("log"),
  /** A Firebase service account's JSON (the whole file's content), for PUSH_PROVIDER=fcm. */
  FCM_SERVICE_ACCOUNT_JSON: optionalString,
  /** Comma-separated browser origins (scheme://host[:port]) allowed by CORS for REST and Socket.IO, or "*". */
  CORS_ORIGINS: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
    )
    .pipe(
      z.array(z.string().regex(/^(\*|https?:\/\/[^/\s,]+)$/, "each origin is scheme://host[:port], or *")),
    )
    .transform((list): string[] | "*" => (list.includes("*") ? "*" : list)),
  /**
   * The demo login (POST /api/v1/demo/token) that signs a token for any user id. Unset: on only
   * while the JWT secret is the generated one (a local trial); refused in production.
   */
  DEMO_LOGIN: bool.optional(),
});

type Env = z.infer<typeof envSchema>;

/** Every variable the configuration reads (deployment files are checked against it). */
export const CONFIG_KEYS: readonly string[] = [...Object.keys(envSchema.shape), ...poolKeys()];
export type Config = Env & {
  jwt: JwtKeyConfig;
  sqliteFile: string;
  pools: Record<PoolName, PoolConfig>;
  publicUrl: string;
  mediaSigningSecret: string;
  /** Whether POST /api/v1/demo/token is served (DEMO_LOGIN, or its default). */
  demoLogin: boolean;
  /** One Redis or a cluster (REDIS_CLUSTER_NODES). */
  redis: RedisTarget;
};
export type JwtKeyConfig =
  | { kind: "secret"; secret: string; generated: boolean }
  | { kind: "public"; publicKey: string };

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.problems = problems;
  }
}

/**
 * Embedded mode needs no secret to be set: one is generated once into DATA_DIR so the API,
 * every worker and `npm run token` agree. Production must set JWT_SECRET or JWT_PUBLIC_KEY.
 */
function embeddedSecret(dataDir: string, name = "jwt-secret"): string {
  const file = path.join(dataDir, name);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    // Written whole under a name of its own, then linked into place: processes starting
    // together on a fresh DATA_DIR (npm start) never read a secret file that is not yet
    // written. The first link wins; the others read the winner's.
    const tmp = `${file}.${process.pid}.${randomBytes(6).toString("hex")}`;
    writeFileSync(tmp, randomBytes(32).toString("base64url"), { flag: "wx", mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const secret = readFileSync(file, "utf8").trim();
  // Only a file cut short by hand or by an older version's crash: never sign with an empty key.
  if (secret.length < 32)
    throw new ConfigError([`${file}: the generated secret is cut short; delete the file`]);
  return secret;
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  const pools = parsePools(source);
  if (!parsed.success) {
    throw new ConfigError([
      ...parsed.error.issues.map((i) => `${i.path.join(".") || "(env)"}: ${i.message}`),
      ...pools.problems,
    ]);
  }
  const env = parsed.data;
  const problems: string[] = [...pools.problems];
  const prod = env.NODE_ENV === "production";
  if (env.JWT_SECRET && env.JWT_PUBLIC_KEY) problems.push("JWT_SECRET and JWT_PUBLIC_KEY: set one, not both");
  if (env.JWT_SECRET && env.JWT_SECRET.length < 32) problems.push("JWT_SECRET: at least 32 characters");
  if (prod && !env.JWT_SECRET && !env.JWT_PUBLIC_KEY) {
    problems.push("JWT_SECRET or JWT_PUBLIC_KEY: required when NODE_ENV=production");
  }
  if (env.STORE === "couchbase") {
    for (const name of ["COUCHBASE_CONNSTR", "COUCHBASE_USERNAME", "COUCHBASE_PASSWORD"] as const) {
      if (!env[name]) problems.push(`${name}: required when STORE=couchbase`);
    }
  }
  if (env.MEDIA_STORAGE === "s3") {
    for (const name of ["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"] as const) {
      if (!env[name]) problems.push(`${name}: required when MEDIA_STORAGE=s3`);
    }
  }
  if (env.PUSH_PROVIDER === "fcm" && !env.FCM_SERVICE_ACCOUNT_JSON) {
    problems.push("FCM_SERVICE_ACCOUNT_JSON: required when PUSH_PROVIDER=fcm");
  }
  if (prod && env.MEDIA_STORAGE === "local" && !env.PUBLIC_URL) {
    problems.push("PUBLIC_URL: required when NODE_ENV=production and MEDIA_STORAGE=local (media URLs)");
  }
  if (prod && env.DEMO_LOGIN) {
    problems.push("DEMO_LOGIN: refused when NODE_ENV=production (anyone could sign in as any user)");
  }
  if (env.DEMO_LOGIN && env.JWT_PUBLIC_KEY) {
    problems.push(
      "DEMO_LOGIN: needs a JWT secret to sign with; with JWT_PUBLIC_KEY tokens come from your identity provider",
    );
  }
  if (env.MEDIA_SIGNING_SECRET && env.MEDIA_SIGNING_SECRET.length < 32) {
    problems.push("MEDIA_SIGNING_SECRET: at least 32 characters");
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const dataDir = path.resolve(env.DATA_DIR);
  const jwt: JwtKeyConfig = env.JWT_PUBLIC_KEY
    ? { kind: "public", publicKey: env.JWT_PUBLIC_KEY.replace(/\\n/g, "\n") }
    : env.JWT_SECRET
      ? { kind: "secret", secret: env.JWT_SECRET, generated: false }
      : { kind: "secret", secret: embeddedSecret(dataDir), generated: true };
  return {
    ...env,
    DATA_DIR: dataDir,
    jwt,
    sqliteFile: path.join(dataDir, "chat.sqlite"),
    pools: pools.pools,
    publicUrl: (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, ""),
    mediaSigningSecret:
      env.MEDIA_SIGNING_SECRET ??
      (env.MEDIA_STORAGE === "local" ? embeddedSecret(dataDir, "media-secret") : ""),
    demoLogin: env.DEMO_LOGIN ?? (jwt.kind === "secret" && jwt.generated),
    redis: {
      url: env.REDIS_URL,
      clusterNodes:
        env.REDIS_CLUSTER_NODES?.split(",").map((n) => {
          const [host = "", port = ""] = n.split(":");
          return { host, port: Number(port) };
        }) ?? null,
    },
  };
}

/** For process entry points: print every problem and exit non-zero. */
export function loadConfigOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}
