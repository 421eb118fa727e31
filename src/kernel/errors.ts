import type { z } from "zod";
import { ERROR_STATUS, type ErrorCode } from "../contract/error-codes.ts";
import type { ErrorBody } from "../contract/events.ts";

export type { ErrorCode };
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
  toBody(): { error: ErrorBody } {
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
