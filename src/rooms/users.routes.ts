import { Router } from "express";
import { z } from "zod";
import { currentUser } from "../auth/auth.middleware.ts";
import { parse } from "../errors.ts";
import { userIdSchema } from "../ids.ts";
import type { Presence } from "../realtime/presence.ts";
import type { BlocksService } from "./blocks.service.ts";

const userParamsSchema = z.object({ user_id: userIdSchema });

/** API 20 (POST and DELETE /users/:user_id/block, 204 both, idempotent) and 34 (presence). */
export function usersRoutes(blocks: BlocksService, presence: Presence): Router {
  const router = Router();
  router.get("/users/:user_id/presence", async (req, res) => {
    const { user_id } = parse(userParamsSchema, req.params);
    res.json(await presence.get(currentUser(req), user_id));
  });
  router.post("/users/:user_id/block", async (req, res) => {
    const { user_id } = parse(userParamsSchema, req.params);
    await blocks.block(currentUser(req), user_id);
    res.status(204).end();
  });
  router.delete("/users/:user_id/block", async (req, res) => {
    const { user_id } = parse(userParamsSchema, req.params);
    await blocks.unblock(currentUser(req), user_id);
    res.status(204).end();
  });
  return router;
}
