import { randomFillSync } from "node:crypto";
import { monotonicFactory } from "ulid";

/**
 * ULIDs for rooms, messages and jobs. ulid's default PRNG asks the OS for one byte per
 * character (16 calls per id), which showed up as ~3% of an API process's CPU under load;
 * this one hands out bytes from a pooled crypto buffer instead.
 */
const pool = Buffer.alloc(4096);
let offset = pool.length;
function pooledRandom(): number {
  if (offset >= pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  return (pool[offset++] ?? 0) / 256;
}

export const newId = monotonicFactory(pooledRandom);

/** The id formats are the contract's (src/contract/ids.ts): the wire objects are checked with them. */
export { clientIdSchema, idSchema, userIdSchema } from "../contract/ids.ts";
