import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { bodies } from "../http/responses.ts";
import { CHAT_BASE, route } from "../http/route.ts";
import { syncMessagesSchema, syncRoomsSchema } from "./sync.schemas.ts";
import type { SyncService } from "./sync.service.ts";

/** API.md 28–29 (the socket pair is in realtime/socket.handlers.ts). */
export function syncRoutes(sync: SyncService): Router {
  const router = Router();

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/sync/rooms",
      summary: "Rooms changed since a device's cursor",
      tag: "sync",
      query: syncRoomsSchema,
      status: 200,
      response: bodies.syncRooms,
      errors: ["not_found"],
    },
    async ({ query }, req, res) => {
      res.json(await sync.rooms(currentUser(req), query));
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/sync/messages",
      summary: "Messages changed since a device's cursor, paged",
      tag: "sync",
      query: syncMessagesSchema,
      status: 200,
      response: bodies.syncMessages,
      errors: ["not_found"],
    },
    async ({ query }, req, res) => {
      res.json(await sync.messages(currentUser(req), query));
    },
  );

  return router;
}
