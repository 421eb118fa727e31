import { BurstyRateLimiter, RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { AppError } from "../kernel/errors.ts";
import type { Keys, RedisClient } from "../redis/redis.ts";

/** What a user can do too often; each has its own budget. */
export type RateLimited =
  | "send"
  | "message_op"
  | "room_create"
  | "member_add"
  | "typing"
  | "media_upload"
  | "demo_login";

export type RateLimitConfig = {
  /** Messages per second per user, with a burst of as many again over 10 s; 0 turns it off. */
  sendPerS: number;
  /** Edits, deletes and reactions per second per user. */
  messageOpsPerS: number;
  /** Rooms created per minute per user. */
  roomCreatesPerMin: number;
  /** Member additions (requests) per minute per user. */
  memberAddsPerMin: number;
  /** typing:start per second per user (each socket is also throttled silently). */
  typingPerS: number;
  /** Upload URLs per minute per user (each may fill storage until it expires). */
  mediaUploadsPerMin: number;
  /** Demo tokens per minute per client address (the demo login makes identities free). */
  demoLoginsPerMin: number;
};

type Limiter = Pick<RateLimiterRedis, "consume">;

/**
 * Per-user rate limits kept in Redis (rate-limiter-flexible), so every API node shares one
 * budget per user. Keys are `<prefix>:rl-<budget>:<user id>` (Keys.rateLimitPrefix): one key
 * family per budget, the user id last, where no input reaches the family segment.
 */
export class RateLimits {
  readonly #limiters = new Map<RateLimited, Limiter>();

  constructor(redis: RedisClient, keys: Keys, config: RateLimitConfig) {
    const make = (budget: string, points: number, duration: number) =>
      new RateLimiterRedis({
        storeClient: redis,
        keyPrefix: keys.rateLimitPrefix(budget),
        points,
        duration,
      });
    if (config.sendPerS > 0) {
      this.#limiters.set(
        "send",
        new BurstyRateLimiter(make("send", config.sendPerS, 1), make("send-burst", config.sendPerS, 10)),
      );
    }
    this.#limiters.set("message_op", make("message_op", config.messageOpsPerS, 1));
    this.#limiters.set("room_create", make("room_create", config.roomCreatesPerMin, 60));
    this.#limiters.set("member_add", make("member_add", config.memberAddsPerMin, 60));
    this.#limiters.set("typing", make("typing", config.typingPerS, 1));
    this.#limiters.set("media_upload", make("media_upload", config.mediaUploadsPerMin, 60));
    this.#limiters.set("demo_login", make("demo_login", config.demoLoginsPerMin, 60));
  }

  /** Takes one unit of the user's budget, or throws 429 `rate_limited` with the wait in seconds. */
  async consume(what: RateLimited, userId: string): Promise<void> {
    const limiter = this.#limiters.get(what);
    if (!limiter) return;
    try {
      await limiter.consume(userId);
    } catch (err) {
      // rate-limiter-flexible rejects with a RateLimiterRes when over budget, with an Error when Redis fails.
      if (!(err instanceof RateLimiterRes)) throw err;
      const retryAfterS = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
      throw new AppError(
        "rate_limited",
        `too many requests; retry in ${retryAfterS} s`,
        { retry_after_s: retryAfterS },
        retryAfterS,
      );
    }
  }
}
