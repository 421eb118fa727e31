import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { parse } from "../errors.ts";
import { listQuerySchema, roomParamsSchema } from "../rooms/rooms.schemas.ts";
import type { ForwardService } from "./forward.service.ts";
import type { MessageOpsService } from "./message-ops.service.ts";
import {
  deleteMessageQuerySchema,
  editMessageSchema,
  forwardSchema,
  historyQuerySchema,
  messageParamsSchema,
  reactionSchema,
  sendMessageSchema,
} from "./messages.schemas.ts";
import type { MessagesService } from "./messages.service.ts";
import { type SearchService, searchQuerySchema } from "./search.service.ts";
import type { StarsService } from "./stars.service.ts";

export function messagesRoutes(
  messages: MessagesService,
  ops: MessageOpsService,
  search: SearchService,
  stars: StarsService,
  forward: ForwardService,
): Router {
  const router = Router();

  router.get("/search/messages", async (req, res) => {
    res.json(await search.search(currentUser(req), parse(searchQuerySchema, req.query)));
  });

  router.post("/rooms/:room_id/messages", async (req, res) => {
    const { room_id } = parse(roomParamsSchema, req.params);
    const input = parse(sendMessageSchema, req.body);
    const { message, created } = await messages.send(currentUser(req), room_id, input, "rest");
    res.status(created ? 201 : 200).json({ message });
  });

  router.get("/rooms/:room_id/messages", async (req, res) => {
    const { room_id } = parse(roomParamsSchema, req.params);
    res.json(await messages.history(currentUser(req), room_id, parse(historyQuerySchema, req.query)));
  });

  router.get("/messages/:message_id", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    res.json({ message: await messages.get(currentUser(req), message_id) });
  });

  router.patch("/messages/:message_id", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    const { text } = parse(editMessageSchema, req.body);
    res.json({ message: await ops.edit(currentUser(req), message_id, text) });
  });

  router.delete("/messages/:message_id", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    const query = parse(deleteMessageQuerySchema, req.query);
    await ops.delete(currentUser(req), message_id, query.for);
    res.status(204).end();
  });

  router.put("/messages/:message_id/reaction", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    const { emoji } = parse(reactionSchema, req.body);
    res.json({ message: await ops.react(currentUser(req), message_id, emoji) });
  });

  router.delete("/messages/:message_id/reaction", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    await ops.react(currentUser(req), message_id, null);
    res.status(204).end();
  });

  router.put("/messages/:message_id/star", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    await ops.star(currentUser(req), message_id, true);
    res.status(204).end();
  });

  router.delete("/messages/:message_id/star", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    await ops.star(currentUser(req), message_id, false);
    res.status(204).end();
  });

  router.get("/starred", async (req, res) => {
    res.json(await stars.list(currentUser(req), parse(listQuerySchema, req.query)));
  });

  router.post("/messages/:message_id/forward", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    const { room_ids } = parse(forwardSchema, req.body);
    res.status(202).json(await forward.forward(currentUser(req), message_id, room_ids));
  });

  router.get("/messages/:message_id/info", async (req, res) => {
    const { message_id } = parse(messageParamsSchema, req.params);
    res.json(await ops.info(currentUser(req), message_id));
  });

  return router;
}
