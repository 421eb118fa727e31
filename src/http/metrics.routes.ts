import { type RequestHandler, Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { AppError } from "../kernel/errors.ts";
import { registry } from "../observability/metrics.ts";
import { route } from "./route.ts";

/**
 * Prometheus scrape of this API process (admin token). Each PM2 instance is its own target.
 * A bearer JWT only, never a cookie: a browser's Bull Board session opens the board alone.
 */
export function metricsRoutes(authenticate: RequestHandler): Router {
  const router = Router();
  route(
    router,
    "",
    {
      method: "get",
      path: "/metrics",
      summary: "Prometheus metrics of this API process",
      tag: "operations",
      access: "admin",
      produces: "text/plain",
      status: 200,
    },
    authenticate,
    async (_input, req, res) => {
      if (!currentUser(req).admin) throw new AppError("forbidden", "admin role required");
      res.setHeader("Content-Type", registry.contentType);
      res.send(await registry.metrics());
    },
  );
  return router;
}
