import { createHash } from "node:crypto";
import type { RedisClient } from "./redis.ts";

/** A Lua script run by EVALSHA, loading it on NOSCRIPT (Redis restarted or flushed its script cache). */
export class LuaScript {
  readonly #source: string;
  readonly #sha: string;
  /** A number for a fixed key count (checked on every run), or "variable" for per-call key lists. */
  readonly #numKeys: number | "variable";

  constructor(numKeys: number | "variable", source: string) {
    this.#source = source;
    this.#numKeys = numKeys;
    this.#sha = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: RedisClient, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (this.#numKeys !== "variable" && keys.length !== this.#numKeys)
      throw new Error(`script expects ${this.#numKeys} keys, got ${keys.length}`);
    try {
      return await redis.evalsha(this.#sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("NOSCRIPT")) {
        return await redis.eval(this.#source, keys.length, ...keys, ...args);
      }
      throw err;
    }
  }
}
