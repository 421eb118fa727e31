import { createHash } from "node:crypto";
import type { Redis } from "ioredis";

/** A Lua script run by EVALSHA, loading it on NOSCRIPT (Redis restarted or flushed its script cache). */
export class LuaScript {
  readonly #source: string;
  readonly #sha: string;
  readonly #numKeys: number;

  constructor(numKeys: number, source: string) {
    this.#source = source;
    this.#numKeys = numKeys;
    this.#sha = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    if (keys.length !== this.#numKeys)
      throw new Error(`script expects ${this.#numKeys} keys, got ${keys.length}`);
    try {
      return await redis.evalsha(this.#sha, this.#numKeys, ...keys, ...args);
    } catch (err) {
      if (err instanceof Error && err.message.startsWith("NOSCRIPT")) {
        return await redis.eval(this.#source, this.#numKeys, ...keys, ...args);
      }
      throw err;
    }
  }
}
