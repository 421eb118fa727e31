import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { bodies } from "../http/responses.ts";
import { CHAT_BASE, route } from "../http/route.ts";
import { listQuerySchema, roomParamsSchema } from "../kernel/params.ts";
import type { GroupsService } from "./groups.service.ts";
import type { ReceiptsService } from "./receipts.service.ts";
import {
  addMembersSchema,
  createRoomSchema,
  groupUpdateSchema,
  memberParamsSchema,
  receiptSchema,
  roleSchema,
  settingsSchema,
} from "./rooms.schemas.ts";
import type { RoomsService } from "./rooms.service.ts";

export function roomsRoutes(rooms: RoomsService, receipts: ReceiptsService, groups: GroupsService): Router {
  const router = Router();

  route(
    router,
    CHAT_BASE,
    {
      method: "post",
      path: "/rooms",
      summary: "Create a group, or get-or-create the direct room with a user (200 when it existed)",
      tag: "rooms",
      body: createRoomSchema,
      status: [201, 200],
      response: bodies.room,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ body }, req, res) => {
      const { room, created } = await rooms.create(currentUser(req), body);
      res.status(created ? 201 : 200).json({ room });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/rooms",
      summary: "The caller's rooms, most recent activity first",
      tag: "rooms",
      query: listQuerySchema,
      status: 200,
      response: bodies.rooms,
    },
    async ({ query }, req, res) => {
      res.json(await rooms.list(currentUser(req), query));
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/rooms/:room_id",
      summary: "One room with its members",
      tag: "rooms",
      params: roomParamsSchema,
      status: 200,
      response: bodies.room,
    },
    async ({ params }, req, res) => {
      res.json({ room: await rooms.get(currentUser(req), params.room_id) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "patch",
      path: "/rooms/:room_id",
      summary: "Rename, describe or set the photo of a group (admins)",
      tag: "rooms",
      params: roomParamsSchema,
      body: groupUpdateSchema,
      status: 200,
      response: bodies.room,
      errors: ["forbidden"],
    },
    async ({ params, body }, req, res) => {
      res.json({ room: await groups.update(currentUser(req), params.room_id, body) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "post",
      path: "/rooms/:room_id/members",
      summary: "Add members to a group (admins)",
      tag: "rooms",
      params: roomParamsSchema,
      body: addMembersSchema,
      status: 200,
      response: bodies.room,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params, body }, req, res) => {
      res.json({ room: await groups.addMembers(currentUser(req), params.room_id, body.user_ids) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "delete",
      path: "/rooms/:room_id/members/:user_id",
      summary: "Remove a member (admins), or leave (own id)",
      tag: "rooms",
      params: memberParamsSchema,
      status: 200,
      response: bodies.room,
      errors: ["forbidden"],
    },
    async ({ params }, req, res) => {
      res.json({ room: await groups.removeMember(currentUser(req), params.room_id, params.user_id) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "patch",
      path: "/rooms/:room_id/members/:user_id",
      summary: "Promote or demote a member (admins)",
      tag: "rooms",
      params: memberParamsSchema,
      body: roleSchema,
      status: 200,
      response: bodies.room,
      errors: ["forbidden"],
    },
    async ({ params, body }, req, res) => {
      res.json({ room: await groups.setRole(currentUser(req), params.room_id, params.user_id, body.role) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "put",
      path: "/rooms/:room_id/settings",
      summary: "The caller's mute, pin and archive for a room",
      tag: "rooms",
      params: roomParamsSchema,
      body: settingsSchema,
      status: 200,
      response: bodies.room,
    },
    async ({ params, body }, req, res) => {
      res.json({ room: await rooms.updateSettings(currentUser(req), params.room_id, body) });
    },
  );

  for (const kind of ["read", "delivered"] as const) {
    route(
      router,
      CHAT_BASE,
      {
        method: "post",
        path: `/rooms/:room_id/${kind}`,
        summary: `Move the caller's ${kind} watermark up to seq`,
        tag: "receipts",
        params: roomParamsSchema,
        body: receiptSchema,
        status: 204,
      },
      async ({ params, body }, req, res) => {
        await receipts.mark(currentUser(req), params.room_id, kind, body.seq);
        res.status(204).end();
      },
    );
  }

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/unread",
      summary: "Unread counts per room and in total",
      tag: "receipts",
      status: 200,
      response: bodies.unread,
    },
    async (_input, req, res) => {
      res.json(await rooms.unread(currentUser(req)));
    },
  );

  return router;
}
