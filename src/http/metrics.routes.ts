import { type RequestHandler, Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { AppError } from "../errors.ts";
import { registry } from "../observability/metrics.ts";

/** Prometheus scrape of this API process (admin token). Each PM2 instance is its own target. */
export function metricsRoutes(authenticate: RequestHandler): Router {
  const router = Router();
  router.get("/metrics", authenticate, async (req, res) => {
    if (!currentUser(req).admin) throw new AppError("forbidden", "admin role required");
    res.setHeader("Content-Type", registry.contentType);
    res.send(await registry.metrics());
  });
  return router;
}
