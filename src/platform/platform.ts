import type { z } from "zod";
import { TokenVerifier } from "../auth/jwt.ts";
import type { Config } from "../config/config.ts";
import { createMediaStorage, type Storage } from "../media-storage/storage.factory.ts";
import type { Logger } from "../observability/logger.ts";
import { JobProducer, type QueueDefinition } from "../queues/queue.ts";
import { RateLimits } from "../rate-limits/rate-limits.ts";
import { createRedis, Keys, type RedisClient, type RedisRole } from "../redis/redis.ts";
import { RedisErrorLog } from "../redis/redis-errors.ts";
import { ReplicaWait } from "../redis/replica-wait.ts";
import { createStore } from "../store/store.factory.ts";
import type { Store } from "../store/store.ts";

type Jobs = Record<string, z.ZodType>;

/**
 * What every process shares, built once per process (the API and each pool): the Redis
 * connections with their error logging, `Keys`, the store, the token verifier, rate limits,
 * media storage and one producer per queue. Features take what they need from it; nobody builds
 * these a second time. `close` releases them in order, after the features' own `onClose`.
 */
export class Platform {
  readonly config: Config;
  readonly logger: Logger;
  readonly keys: Keys;
  /** The process's command connection. */
  readonly redis: RedisClient;
  readonly redisErrors: RedisErrorLog;
  readonly store: Store;
  readonly verifier: TokenVerifier;
  readonly #name: string;
  /** Queues add on their own connection in the API (a slow add never holds up commands). */
  readonly queueConn: RedisClient;
  readonly #connections: RedisClient[] = [];
  readonly #producers = new Map<string, JobProducer<Jobs>>();
  readonly #closers: (() => Promise<void>)[] = [];
  #limits: RateLimits | undefined;
  #media: Storage | undefined;
  #replication: ReplicaWait | undefined;

  private constructor(config: Config, logger: Logger, name: string, store: Store, errors: RedisErrorLog) {
    this.config = config;
    this.logger = logger;
    this.#name = name;
    this.keys = new Keys(config.REDIS_PREFIX);
    this.redisErrors = errors;
    this.store = store;
    this.redis = this.connection(name === "api" ? "api" : "worker", "");
    this.queueConn = name === "api" ? this.connection("api", "queue") : this.redis;
    this.verifier = new TokenVerifier({
      key: config.jwt,
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
    });
  }

  /** `name` is "api" or the pool's name: it names the connections (CLIENT LIST) and their role. */
  static async open(config: Config, logger: Logger, name: string): Promise<Platform> {
    const errors = new RedisErrorLog(logger, config.redis);
    const store = await createStore(config, logger);
    return new Platform(config, logger, name, store, errors);
  }

  /** A further Redis connection of this process, watched and closed with it. */
  connection(role: RedisRole, label: string): RedisClient {
    const name = `chat-${this.#name}${label ? `-${label}` : ""}`;
    const conn = createRedis(this.config.redis, role, name);
    this.redisErrors.watch({ [name]: conn });
    this.#connections.push(conn);
    return conn;
  }

  /** The one producer of a queue in this process (its payloads parsed by the queue's schemas). */
  jobs<J extends Jobs>(def: QueueDefinition<J>): JobProducer<J> {
    let producer = this.#producers.get(def.name);
    if (!producer) {
      producer = new JobProducer<Jobs>(def, this.queueConn, this.keys);
      this.redisErrors.watch({ [`${def.name}Queue`]: producer.queue });
      this.#producers.set(def.name, producer);
    }
    return producer as unknown as JobProducer<J>;
  }

  /** Every queue this process adds to (Bull Board shows them). */
  get queues() {
    return [...this.#producers.values()].map((p) => p.queue);
  }

  get limits(): RateLimits {
    const c = this.config;
    this.#limits ??= new RateLimits(this.redis, this.keys, {
      sendPerS: c.SEND_RATE_PER_S,
      messageOpsPerS: c.MESSAGE_OPS_RATE_PER_S,
      roomCreatesPerMin: c.ROOM_CREATES_PER_MIN,
      memberAddsPerMin: c.MEMBER_ADDS_PER_MIN,
      typingPerS: c.TYPING_RATE_PER_S,
      mediaUploadsPerMin: c.MEDIA_UPLOADS_PER_MIN,
      demoLoginsPerMin: c.DEMO_LOGINS_PER_MIN,
    });
    return this.#limits;
  }

  /** Media storage (S3/R2, or the embedded local one with its signer). */
  get media(): Storage {
    this.#media ??= createMediaStorage(this.config);
    return this.#media;
  }

  /** Waits for Redis replicas after an accept (REDIS_WAIT_REPLICAS); WAIT blocks, so it has its own connection. */
  get replication(): ReplicaWait {
    const c = this.config;
    this.#replication ??= new ReplicaWait({
      conn: c.REDIS_WAIT_REPLICAS > 0 ? this.connection("api", "wait") : null,
      keys: this.keys,
      replicas: c.REDIS_WAIT_REPLICAS,
      timeoutMs: c.REDIS_WAIT_TIMEOUT_MS,
    });
    return this.#replication;
  }

  /** Runs at close, latest first, before the queues, connections and store close. */
  onClose(fn: () => Promise<void>): void {
    this.#closers.push(fn);
  }

  async close(): Promise<void> {
    // Redis away: nothing can be flushed to it, and every close below would wait for it.
    const away = this.redisErrors.outage !== null;
    if (away) for (const c of this.#connections) c.disconnect();
    for (const fn of this.#closers.reverse()) await fn();
    for (const p of this.#producers.values()) await p.close();
    await this.#replication?.close();
    if (!away) await Promise.allSettled(this.#connections.map((c) => c.quit()));
    await this.store.close();
  }
}
