import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { parse } from "../errors.ts";
import { createRoomSchema, listQuerySchema, roomParamsSchema } from "./rooms.schemas.ts";
import type { RoomsService } from "./rooms.service.ts";

export function roomsRoutes(rooms: RoomsService): Router {
  const router = Router();

  router.post("/rooms", async (req, res) => {
    const { room, created } = await rooms.create(currentUser(req), parse(createRoomSchema, req.body));
    res.status(created ? 201 : 200).json({ room });
  });

  router.get("/rooms", async (req, res) => {
    res.json(await rooms.list(currentUser(req), parse(listQuerySchema, req.query)));
  });

  router.get("/rooms/:room_id", async (req, res) => {
    const { room_id } = parse(roomParamsSchema, req.params);
    res.json({ room: await rooms.get(currentUser(req), room_id) });
  });

  return router;
}
