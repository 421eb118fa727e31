import { createBullBoard } from "@bull-board/api";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Queue } from "bullmq";
import { Router } from "express";
import type { TokenVerifier } from "../auth/jwt.ts";
import { AppError } from "../kernel/errors.ts";
import { adminAuth, type BoardSessions } from "./admin-auth.ts";

const BULL_BOARD_PATH = "/admin/queues";

/**
 * Bull Board over every queue of every pool, read-only, admins only (admin-auth.ts). Its page loads its own
 * scripts and styles; the policy here allows exactly that (helmet's default blocks its inline
 * bootstrap).
 */
export function bullBoardRoutes(
  queues: Queue[],
  verifier: TokenVerifier,
  sessions: BoardSessions,
  secureCookie: boolean,
): Router {
  const adapter = new ExpressAdapter();
  adapter.setBasePath(BULL_BOARD_PATH);
  // Read-only: the queues hold acknowledged work; adding, cleaning or emptying a queue from a
  // browser could forge or lose messages. Jobs retry by themselves (src/app/pool.ts).
  createBullBoard({
    queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
    serverAdapter: adapter,
  });
  const router = Router();
  router.use(
    BULL_BOARD_PATH,
    // Reading only, so nothing but GET and HEAD (no cross-site form can act through the cookie).
    (req, _res, next) => {
      if (req.method !== "GET" && req.method !== "HEAD")
        throw new AppError("forbidden", "the queue board is read-only");
      next();
    },
    adminAuth(verifier, sessions, BULL_BOARD_PATH, secureCookie),
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
