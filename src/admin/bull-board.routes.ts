import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import { Router } from "express";
import type { TokenVerifier } from "../auth/jwt.ts";
import { adminAuth } from "./admin-auth.ts";

export const BULL_BOARD_PATH = "/admin/queues";

/**
 * Bull Board over every queue of every pool, admins only (admin-auth.ts). Its page loads its own
 * scripts and styles; the policy here allows exactly that (helmet's default blocks its inline
 * bootstrap).
 */
export function bullBoardRoutes(queues: Queue[], verifier: TokenVerifier): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter: adapter });
  const router = Router();
  router.use(
    BULL_BOARD_PATH,
    adminAuth(verifier, BULL_BOARD_PATH),
    (_req, res, next) => {
      res.setHeader(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; font-src 'self' https://fonts.gstatic.com; img-src 'self' data:",
      );
      next();
    },
    adapter.getRouter(),
  );
  return router;
}
