import type { NextFunction, Request, Response } from "express";
import type { Logger } from "../observability/logger.ts";
import { AppError } from "./errors.ts";

const CONNECTION_ERROR =
  /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|MaxRetriesPerRequest|Reached the max retries/i;

/** True when an error comes from a dependency being away (Redis down): the client may retry. */
function isDependencyDown(err: unknown, redisDown: () => boolean): boolean {
  if (redisDown()) return true;
  return err instanceof Error && CONNECTION_ERROR.test(err.message);
}

/** Maps anything thrown to API.md's error format; bad input never becomes a 500. */
export function toAppError(err: unknown, redisDown: () => boolean): AppError {
  if (err instanceof AppError) return err;
  if (typeof err === "object" && err !== null && "type" in err) {
    const type = (err as { type: unknown }).type;
    if (type === "entity.parse.failed") return new AppError("invalid_request", "body is not valid JSON");
    if (type === "entity.too.large") return new AppError("payload_too_large", "body is too large");
    if (type === "charset.unsupported" || type === "encoding.unsupported") {
      return new AppError("unsupported_media_type", "unsupported body encoding");
    }
  }
  if (isDependencyDown(err, redisDown))
    return new AppError("unavailable", "a dependency is unavailable; retry shortly");
  return new AppError("internal", "internal error");
}

export function errorHandler(logger: Logger, redisDown: () => boolean) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const appError = toAppError(err, redisDown);
    if (appError.code === "internal") logger.error({ err, path: req.path }, "unhandled error");
    else if (appError.code === "unavailable")
      logger.warn({ err: String(err), path: req.path }, "dependency down");
    if (appError.retryAfterS !== undefined) res.setHeader("Retry-After", String(appError.retryAfterS));
    if (appError.code === "unavailable") res.setHeader("Retry-After", "1");
    res.status(appError.status).json(appError.toBody());
  };
}
