import { Router } from "express";
import { z } from "zod";
import { currentUser } from "../auth/auth.middleware.ts";
import { bodies } from "../http/responses.ts";
import { CHAT_BASE, route } from "../http/route.ts";
import { userIdSchema } from "../kernel/ids.ts";
import type { Presence } from "../presence/presence.ts";
import type { BlocksService } from "./blocks.service.ts";

const userParamsSchema = z.object({ user_id: userIdSchema });

/** API 20 (POST and DELETE /users/:user_id/block, 204 both, idempotent) and 34 (presence). */
export function usersRoutes(blocks: BlocksService, presence: Presence): Router {
  const router = Router();
  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/users/:user_id/presence",
      summary: "A user's presence (users sharing a room)",
      tag: "users",
      params: userParamsSchema,
      status: 200,
      response: bodies.presence,
    },
    async ({ params }, req, res) => {
      res.json(await presence.get(currentUser(req), params.user_id));
    },
  );
  route(
    router,
    CHAT_BASE,
    {
      method: "post",
      path: "/users/:user_id/block",
      summary: "Block a user",
      tag: "users",
      params: userParamsSchema,
      status: 204,
    },
    async ({ params }, req, res) => {
      await blocks.block(currentUser(req), params.user_id);
      res.status(204).end();
    },
  );
  route(
    router,
    CHAT_BASE,
    {
      method: "delete",
      path: "/users/:user_id/block",
      summary: "Unblock a user",
      tag: "users",
      params: userParamsSchema,
      status: 204,
    },
    async ({ params }, req, res) => {
      await blocks.unblock(currentUser(req), params.user_id);
      res.status(204).end();
    },
  );
  return router;
}
