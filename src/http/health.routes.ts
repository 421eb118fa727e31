import { Router } from "express";
import type { RedisClient } from "../redis/redis.ts";
import type { Store } from "../store/store.ts";
import { route } from "./route.ts";

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms).unref()),
  ]);

/** Ready when every Redis connection the process uses and the store answer. */
export function healthRoutes(redisConnections: RedisClient[], store: Store): Router {
  const router = Router();
  route(
    router,
    "",
    {
      method: "get",
      path: "/healthz",
      summary: "The process is up",
      tag: "operations",
      access: "public",
      status: 200,
    },
    (_req, res) => {
      res.json({ status: "ok" });
    },
  );
  route(
    router,
    "",
    {
      method: "get",
      path: "/readyz",
      summary: "Redis and the store can serve (503 otherwise)",
      tag: "operations",
      access: "public",
      status: 200,
    },
    async (_req, res) => {
      const check = async (fn: () => Promise<unknown>) =>
        withTimeout(fn(), 1000).then(
          () => "ok" as const,
          () => "down" as const,
        );
      const [r, s] = await Promise.all([
        check(() => Promise.all(redisConnections.map((c) => c.ping()))),
        check(() => store.ping()),
      ]);
      const ready = r === "ok" && s === "ok";
      res
        .status(ready ? 200 : 503)
        .json({ status: ready ? "ready" : "unavailable", checks: { redis: r, store: s } });
    },
  );
  return router;
}
