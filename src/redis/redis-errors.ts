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
