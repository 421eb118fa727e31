import type { z } from "zod";
import { ERROR_STATUS } from "./error-codes.ts";
import { StorageFullError, StorageUnavailableError } from "./media/storage/media-storage.ts";
import { isRedisUnavailable } from "./redis/redis-errors.ts";
import { StoreUnavailableError } from "./store/store.ts";

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

/**
 * The one error type services throw, with the domain's error codes (API.md's list); REST and
 * socket acks render it the same way.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;
  readonly retryAfterS: number | undefined;
  constructor(code: ErrorCode, message: string, details?: unknown, retryAfterS?: number) {
    super(message);
    this.code = code;
    this.details = details;
    this.retryAfterS = retryAfterS;
  }
  get status(): number {
    return ERROR_STATUS[this.code];
  }
  toBody(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export const notFound = (what: string) => new AppError("not_found", `${what} not found`);

/** Parses untrusted input; a failure is a 400 carrying zod's issues. */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    throw new AppError(
      "invalid_request",
      "request is invalid",
      result.error.issues.map((i) => ({ path: i.path.join("."), message: i.message, code: i.code })),
    );
  }
  return result.data;
}

/**
 * Maps what a service or adapter threw to the domain error both transports render: by error
 * type, so a bug while Redis is reconnecting is still a 500 and a store outage is a 503.
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof StoreUnavailableError) {
    return new AppError("unavailable", "the store is unavailable; retry shortly", undefined, err.retryAfterS);
  }
  if (err instanceof StorageFullError) {
    return new AppError("unavailable", "media storage is full; retry later", undefined, 30);
  }
  if (err instanceof StorageUnavailableError) {
    return new AppError("unavailable", "media storage is unavailable; retry shortly", undefined, 5);
  }
  if (isRedisUnavailable(err))
    return new AppError("unavailable", "a dependency is unavailable; retry shortly", undefined, 1);
  return new AppError("internal", "internal error");
}
