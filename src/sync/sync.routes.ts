import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { parse } from "../errors.ts";
import { syncMessagesSchema, syncRoomsSchema } from "./sync.schemas.ts";
import type { SyncService } from "./sync.service.ts";

/** API.md 28–29 (the socket pair is in realtime/socket.handlers.ts). */
export function syncRoutes(sync: SyncService): Router {
  const router = Router();

  router.get("/sync/rooms", async (req, res) => {
    res.json(await sync.rooms(currentUser(req), parse(syncRoomsSchema, req.query)));
  });

  router.get("/sync/messages", async (req, res) => {
    res.json(await sync.messages(currentUser(req), parse(syncMessagesSchema, req.query)));
  });

  return router;
}
