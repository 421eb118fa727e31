import { randomFillSync } from "node:crypto";
import { monotonicFactory } from "ulid";
import { z } from "zod";

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

/**
 * A server-made id exactly as newId() writes it: 26 upper-case Crockford base32 characters,
 * the first at most 7 (48-bit time). Every room or message id from a client is checked
 * against this before it reaches a Redis key or a query, so input can never name another key.
 */
export const ID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
export const idSchema = z.string().regex(ID_PATTERN, "must be an id issued by this server (a ULID)");

/**
 * User ids come from the token's `sub` (API.md: 1-64 chars of [A-Za-z0-9_.:-]); client ids
 * share the charset. Neither contains "|", the separator Redis keys use between parts.
 */
export const USER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const userIdSchema = z.string().regex(USER_ID_PATTERN, "1-64 chars of [A-Za-z0-9_.:-]");
export const clientIdSchema = z.string().regex(USER_ID_PATTERN, "1-64 chars of [A-Za-z0-9_.:-]");
