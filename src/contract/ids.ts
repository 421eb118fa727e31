import { z } from "zod";

/**
 * A server-made id exactly as the server writes it (a ULID): 26 upper-case Crockford base32
 * characters, the first at most 7 (48-bit time). Every room or message id from a client is
 * checked against this before it reaches a Redis key or a query, so input can never name
 * another key.
 */
const ID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
export const idSchema = z.string().regex(ID_PATTERN, "must be an id issued by this server (a ULID)");

/**
 * User ids come from the token's `sub` (API.md: 1-64 chars of [A-Za-z0-9_.:-]); client ids and
 * device ids (UUIDs and the like fit) share the charset. None contains "|", the separator Redis
 * keys use between parts, nor spaces.
 */
const USER_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;
export const userIdSchema = z.string().regex(USER_ID_PATTERN, "1-64 chars of [A-Za-z0-9_.:-]");
export const clientIdSchema = z.string().regex(USER_ID_PATTERN, "1-64 chars of [A-Za-z0-9_.:-]");
export const deviceIdSchema = z.string().regex(USER_ID_PATTERN, "1-64 chars of [A-Za-z0-9_.:-]");
