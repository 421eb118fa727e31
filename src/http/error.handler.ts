import type { NextFunction, Request, Response } from "express";
import { AppError, type ErrorCode } from "../kernel/errors.ts";
import type { Logger } from "../observability/logger.ts";
import { toAppError } from "./error-mapping.ts";

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
  if (type === "encoding.invalid") return new AppError("invalid_request", "body is not valid UTF-8");
  if (err instanceof URIError) return new AppError("invalid_request", "path is not valid percent-encoding");
  const known = CLIENT_STATUS[status] ?? CLIENT_STATUS[400];
  return known && new AppError(known.code, known.message);
}

/** HTTP's view: the router's and body parser's client errors first, then the domain mapping. */
export function httpError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return clientError(err) ?? toAppError(err);
}

/**
 * Renders errors. Only a 500 logs its stack; a client's mistake logs nothing, and an
 * unavailable dependency logs one line with the cause (never request data).
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const appError = httpError(err);
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
