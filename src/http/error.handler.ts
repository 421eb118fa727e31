import type { NextFunction, Request, Response } from "express";
import type { Logger } from "../observability/logger.ts";
import { StoreUnavailableError } from "../store/store.ts";
import { AppError, type ErrorCode } from "./errors.ts";

const CONNECTION_ERROR =
  /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|MaxRetriesPerRequest|Reached the max retries/i;

/** True when an error comes from a dependency being away (Redis down): the client may retry. */
function isDependencyDown(err: unknown, redisDown: () => boolean): boolean {
  if (redisDown()) return true;
  return err instanceof Error && CONNECTION_ERROR.test(err.message);
}

const CLIENT_STATUS: Record<number, { code: ErrorCode; message: string }> = {
  400: { code: "invalid_request", message: "request is malformed" },
  404: { code: "not_found", message: "not found" },
  413: { code: "payload_too_large", message: "body is too large" },
  415: { code: "unsupported_media_type", message: "unsupported body encoding or charset" },
};

/**
 * Errors that Express's router and body parser raise for a client's mistake carry a 4xx
 * `status` and `expose: true` (bad percent-encoding, invalid JSON, a body that is not gzip).
 */
function clientError(err: unknown): AppError | undefined {
  if (typeof err !== "object" || err === null || !("status" in err)) return undefined;
  const { status } = err as { status: unknown };
  if (typeof status !== "number" || status < 400 || status > 499) return undefined;
  if ("expose" in err && (err as { expose: unknown }).expose === false) return undefined;
  const type = "type" in err ? (err as { type: unknown }).type : undefined;
  if (type === "entity.parse.failed") return new AppError("invalid_request", "body is not valid JSON");
  if (err instanceof URIError) return new AppError("invalid_request", "path is not valid percent-encoding");
  const known = CLIENT_STATUS[status] ?? CLIENT_STATUS[400];
  return known && new AppError(known.code, known.message);
}

/** Maps anything thrown to API.md's error format; bad input never becomes a 500. */
export function toAppError(err: unknown, redisDown: () => boolean): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof StoreUnavailableError) {
    return new AppError("unavailable", "the store is unavailable; retry shortly", undefined, err.retryAfterS);
  }
  const client = clientError(err);
  if (client) return client;
  if (isDependencyDown(err, redisDown))
    return new AppError("unavailable", "a dependency is unavailable; retry shortly", undefined, 1);
  return new AppError("internal", "internal error");
}

/**
 * Renders errors. Only a 500 logs its stack; a client's mistake logs nothing, and an
 * unavailable dependency logs one line with the cause (never request data).
 */
export function errorHandler(logger: Logger, redisDown: () => boolean) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const appError = toAppError(err, redisDown);
    if (appError.code === "internal") logger.error({ err, path: req.path }, "unhandled error");
    else if (appError.code === "unavailable") {
      logger.warn(
        { cause: err instanceof Error ? err.message : String(err), path: req.path },
        "dependency down",
      );
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const retryAfter = appError.retryAfterS ?? (appError.code === "unavailable" ? 1 : undefined);
    if (retryAfter !== undefined) res.setHeader("Retry-After", String(retryAfter));
    res.status(appError.status).json(appError.toBody());
  };
}
