import type { Platform } from "../platform/platform.ts";
import { BoardSessions } from "./admin-auth.ts";
import { bullBoardRoutes } from "./bull-board.routes.ts";

/** Operators' pages: Bull Board over every queue this process adds to, admins only. */
export function adminModule(p: Platform) {
  return {
    routes: () => [
      bullBoardRoutes(
        p.queues,
        p.verifier,
        new BoardSessions(p.redis, p.keys),
        p.config.publicUrl.startsWith("https:"),
      ),
    ],
  };
}
