import type { Platform } from "../platform/platform.ts";
import { demoLoginRoutes } from "./demo-login.routes.ts";
import { DemoLogin } from "./demo-login.service.ts";

/** Demo sign-in (POST /api/v1/demo/token): on only with DEMO_LOGIN and a shared-secret JWT key. */
export function demoLoginModule(p: Platform) {
  const { config } = p;
  if (!config.demoLogin || config.jwt.kind !== "secret") return { routes: () => [] };
  p.logger.warn(
    "DEMO_LOGIN is on: anyone who reaches this API can sign in as any user (POST /api/v1/demo/token); set JWT_SECRET or DEMO_LOGIN=false to turn it off",
  );
  const demo = new DemoLogin(config.jwt.secret, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE });
  return { routes: () => [demoLoginRoutes(demo, p.limits)] };
}
