import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { parse } from "../errors.ts";
import type { GroupsService } from "./groups.service.ts";
import type { ReceiptsService } from "./receipts.service.ts";
import {
  addMembersSchema,
  createRoomSchema,
  groupUpdateSchema,
  listQuerySchema,
  memberParamsSchema,
  receiptSchema,
  roleSchema,
  roomParamsSchema,
  settingsSchema,
} from "./rooms.schemas.ts";
import type { RoomsService } from "./rooms.service.ts";

export function roomsRoutes(rooms: RoomsService, receipts: ReceiptsService, groups: GroupsService): Router {
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

  router.patch("/rooms/:room_id", async (req, res) => {
    const { room_id } = parse(roomParamsSchema, req.params);
    res.json({ room: await groups.update(currentUser(req), room_id, parse(groupUpdateSchema, req.body)) });
  });

  router.post("/rooms/:room_id/members", async (req, res) => {
    const { room_id } = parse(roomParamsSchema, req.params);
    const { user_ids } = parse(addMembersSchema, req.body);
    res.json({ room: await groups.addMembers(currentUser(req), room_id, user_ids) });
  });

  router.delete("/rooms/:room_id/members/:user_id", async (req, res) => {
    const { room_id, user_id } = parse(memberParamsSchema, req.params);
    res.json({ room: await groups.removeMember(currentUser(req), room_id, user_id) });
  });

  router.patch("/rooms/:room_id/members/:user_id", async (req, res) => {
    const { room_id, user_id } = parse(memberParamsSchema, req.params);
    const { role } = parse(roleSchema, req.body);
    res.json({ room: await groups.setRole(currentUser(req), room_id, user_id, role) });
  });

  router.put("/rooms/:room_id/settings", async (req, res) => {
    const { room_id } = parse(roomParamsSchema, req.params);
    res.json({
      room: await rooms.updateSettings(currentUser(req), room_id, parse(settingsSchema, req.body)),
    });
  });

  for (const kind of ["read", "delivered"] as const) {
    router.post(`/rooms/:room_id/${kind}`, async (req, res) => {
      const { room_id } = parse(roomParamsSchema, req.params);
      const { seq } = parse(receiptSchema, req.body);
      await receipts.mark(currentUser(req), room_id, kind, seq);
      res.status(204).end();
    });
  }

  router.get("/unread", async (req, res) => {
    res.json(await rooms.unread(currentUser(req)));
  });

  return router;
}
