import { Router } from "express";
import type { RedisClient } from "../redis/redis.ts";
import type { Store } from "../store/store.ts";
import { bodies } from "./responses.ts";
import { route } from "./route.ts";

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> =>
  Promise.race([
    p,
    new Promise<T>((_, reject) => setTimeout(() => reject(new Error("timeout")), ms).unref()),
  ]);

/**
 * Ready when every Redis connection the process uses and the store answer. Not ready, the body
 * says why (`reason`): while Redis is away, the line the process logs (RedisErrorLog.outage).
 */
export function healthRoutes(
  redisConnections: RedisClient[],
  store: Store,
  redisOutage: () => string | null = () => null,
): Router {
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
      response: bodies.health,
    },
    (_input, _req, res) => {
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
      status: [200, 503],
      response: bodies.ready,
    },
    async (_input, _req, res) => {
      const check = async (fn: () => Promise<unknown>) =>
        withTimeout(fn(), 1000).then(
          () => null,
          (err: unknown) => (err instanceof Error ? err.message : String(err)),
        );
      const [redisError, storeError] = await Promise.all([
        check(() => Promise.all(redisConnections.map((c) => c.ping()))),
        check(() => store.ping()),
      ]);
      const reasons = [
        ...(redisError === null
          ? []
          : [
              redisOutage() ??
                (redisError === "timeout" ? "Redis did not answer PING within 1 s" : `Redis: ${redisError}`),
            ]),
        ...(storeError === null ? [] : ["the store cannot serve"]),
      ];
      const ready = reasons.length === 0;
      res.status(ready ? 200 : 503).json({
        status: ready ? "ready" : "unavailable",
        checks: { redis: redisError === null ? "ok" : "down", store: storeError === null ? "ok" : "down" },
        ...(ready ? {} : { reason: reasons.join("; ") }),
      });
    },
  );
  return router;
}
