import { isUtf8 } from "node:buffer";
import { randomUUID } from "node:crypto";
import cors from "cors";
import express, { type Express, type RequestHandler, type Router } from "express";
import helmet from "helmet";
import { pinoHttp } from "pino-http";
import { AppError } from "../kernel/errors.ts";
import type { Logger } from "../observability/logger.ts";
import { httpDuration } from "../observability/metrics.ts";
import { errorHandler } from "./error.handler.ts";

export type HttpAppDeps = {
  logger: Logger;
  trustProxy: boolean;
  /** Browser origins allowed by CORS (CORS_ORIGINS); none when empty. */
  corsOrigins: string[] | "*";
  /** Mounted at the root (health, operations). */
  root: Router[];
  /** Mounted under /api/v1/chat, behind authentication. */
  chat: Router[];
  authenticate: RequestHandler;
  /** True once shutdown began: responses then close their connection so keep-alive clients move on. */
  isClosing: () => boolean;
  /** One log line per request at `info` (HTTP_REQUEST_LOG). */
  requestLogging: boolean;
};

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const hasBody = (req: express.Request) =>
  req.headers["transfer-encoding"] !== undefined ||
  (req.headers["content-length"] !== undefined && req.headers["content-length"] !== "0");

/** A body must be JSON (API.md): text, forms or an unlabelled body get 415, not a parse guess. */
const requireJsonBody: RequestHandler = (req, _res, next) => {
  if (hasBody(req) && !req.is("application/json")) {
    next(new AppError("unsupported_media_type", "send the body as application/json"));
    return;
  }
  next();
};

/**
 * The JSON parser would replace invalid UTF-8 (a lone surrogate's bytes included) with U+FFFD
 * and store the changed text; refuse it instead, as the text rules refuse lone surrogates.
 */
function rejectInvalidUtf8(_req: unknown, _res: unknown, buf: Buffer): void {
  if (!isUtf8(buf)) {
    throw Object.assign(new Error("body is not valid UTF-8"), {
      status: 400,
      expose: true,
      type: "encoding.invalid",
    });
  }
}

/** Body parsing for JSON endpoints: JSON only, valid UTF-8, at most 64 KiB (docs/api.md "Bodies"). */
export const jsonBody: RequestHandler[] = [
  requireJsonBody,
  express.json({ limit: "64kb", verify: rejectInvalidUtf8 }),
];

const PROBES = new Set(["/healthz", "/readyz"]);

export function createHttpApp(deps: HttpAppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.trustProxy);
  app.set("query parser", "simple");
  app.use(
    pinoHttp({
      logger: deps.logger,
      // An incoming id (a proxy's) is kept when it is a plain token; otherwise one is made.
      genReqId: (req, res) => {
        const incoming = req.headers["x-request-id"];
        const id = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : randomUUID();
        res.setHeader("X-Request-Id", id);
        return id;
      },
      // Only the method and the path: query strings carry signatures and one-time tokens.
      serializers: {
        req: (req: { id: unknown; method: string; url: string }) => ({
          id: req.id,
          method: req.method,
          path: req.url.split("?")[0],
        }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      // A 503 is a dependency down (already logged once by the error handler, throttled for
      // Redis): a warning, not an error per request.
      customLogLevel: (_req, res, err) =>
        err ? "error" : res.statusCode === 503 ? "warn" : res.statusCode >= 500 ? "error" : "info",
      // pino-http makes up an Error (with a stack) for every 5xx; the error handler has logged
      // the real cause, so the request line keeps only what happened.
      customErrorObject: (_req, res, err, val: Record<string, unknown>) =>
        err.message === `failed with status code ${res.statusCode}` ? { ...val, err: undefined } : val,
      // Probes come every few seconds from every load balancer: their answers are /readyz's body
      // and the metrics, not log lines.
      autoLogging: deps.requestLogging && { ignore: (req) => PROBES.has(req.url ?? "") },
    }),
  );
  app.use((req, res, next) => {
    if (deps.isClosing()) res.setHeader("Connection", "close");
    const end = httpDuration.startTimer({ method: req.method });
    res.on("finish", () => end({ route: req.route?.path ?? "unmatched", status: res.statusCode }));
    next();
  });
  app.use(helmet());
  if (deps.corsOrigins === "*" || deps.corsOrigins.length > 0) {
    // Preflights are answered here, before authentication: browsers send them without a token.
    app.use(
      cors({
        origin: deps.corsOrigins,
        allowedHeaders: ["authorization", "content-type", "x-request-id"],
        exposedHeaders: ["retry-after", "x-request-id"],
        maxAge: 600,
      }),
    );
  }
  for (const r of deps.root) app.use(r);
  // Authenticate before reading a body: an anonymous client cannot make the server parse or
  // inflate anything.
  app.use("/api/v1/chat", deps.authenticate, ...jsonBody, ...deps.chat);
  app.use((_req, _res, next) => next(new AppError("not_found", "no such endpoint")));
  app.use(errorHandler(deps.logger));
  return app;
}
