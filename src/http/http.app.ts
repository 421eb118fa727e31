import express, { type Express, type Router } from "express";
import type { Logger } from "../observability/logger.ts";
import { httpDuration } from "../observability/metrics.ts";
import { errorHandler } from "./error.handler.ts";
import { AppError } from "./errors.ts";

export type HttpAppDeps = {
  logger: Logger;
  trustProxy: boolean;
  redisDown: () => boolean;
  /** Mounted at the root (health, operations). */
  root: Router[];
  /** Mounted under /api/v1/chat, behind authentication. */
  chat: Router[];
  authenticate: express.RequestHandler;
  /** True once shutdown began: responses then close their connection so keep-alive clients move on. */
  isClosing: () => boolean;
};

export function createHttpApp(deps: HttpAppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", deps.trustProxy);
  app.set("query parser", "simple");
  app.use((req, res, next) => {
    if (deps.isClosing()) res.setHeader("Connection", "close");
    const end = httpDuration.startTimer({ method: req.method });
    res.on("finish", () => end({ route: req.route?.path ?? "unmatched", status: res.statusCode }));
    next();
  });
  for (const r of deps.root) app.use(r);
  app.use("/api/v1/chat", express.json({ limit: "64kb" }), deps.authenticate, ...deps.chat);
  app.use((_req, _res, next) => next(new AppError("not_found", "no such endpoint")));
  app.use(errorHandler(deps.logger, deps.redisDown));
  return app;
}
