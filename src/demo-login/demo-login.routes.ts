import { Router } from "express";
import { z } from "zod";
import { jsonBody } from "../http/http.app.ts";
import { bodies } from "../http/responses.ts";
import { route } from "../http/route.ts";
import { userIdSchema } from "../kernel/ids.ts";
import { displayName } from "../kernel/text.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import type { DemoLogin } from "./demo-login.service.ts";

const demoTokenBodySchema = z
  .object({
    user_id: userIdSchema,
    name: displayName(64).optional(),
  })
  .strict();

/** `POST /api/v1/demo/token`: mounted only while DEMO_LOGIN is on (elsewhere a 404). */
export function demoLoginRoutes(demo: DemoLogin, limits: RateLimits): Router {
  const router = Router();
  route(
    router,
    "",
    {
      method: "post",
      path: "/api/v1/demo/token",
      summary: "Demo login: a token for any user id (only while DEMO_LOGIN is on)",
      tag: "demo",
      access: "public",
      body: demoTokenBodySchema,
      status: 200,
      response: bodies.demoToken,
      errors: ["rate_limited", "unavailable"],
    },
    ...jsonBody,
    // Per client address: new identities are free here, so the per-user budgets need this one.
    // Before route() parses the body, so a bad body spends the budget too.
    async (req, _res, next) => {
      await limits.consume("demo_login", req.ip ?? "unknown");
      next();
    },
    ({ body }, _req, res) => {
      res.json(demo.issue(body.user_id, body.name));
    },
  );
  return router;
}
