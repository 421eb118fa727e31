import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { bodies } from "../http/responses.ts";
import { CHAT_BASE, route } from "../http/route.ts";
import { listQuerySchema, roomParamsSchema } from "../kernel/params.ts";
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

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/search/messages",
      summary: "Full-text search in the caller's rooms",
      tag: "messages",
      query: searchQuerySchema,
      status: 200,
      response: bodies.messagePage,
      errors: ["not_found"],
    },
    async ({ query }, req, res) => {
      res.json(await search.search(currentUser(req), query));
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "post",
      path: "/rooms/:room_id/messages",
      summary: "Send a message (200 with the first one for a repeated client_id)",
      tag: "messages",
      params: roomParamsSchema,
      body: sendMessageSchema,
      status: [201, 200],
      response: bodies.message,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params, body }, req, res) => {
      const { message, created } = await messages.send(currentUser(req), params.room_id, body, "rest");
      res.status(created ? 201 : 200).json({ message });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/rooms/:room_id/messages",
      summary: "A room's history by seq",
      tag: "messages",
      params: roomParamsSchema,
      query: historyQuerySchema,
      status: 200,
      response: bodies.history,
    },
    async ({ params, query }, req, res) => {
      res.json(await messages.history(currentUser(req), params.room_id, query));
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/messages/:message_id",
      summary: "One message",
      tag: "messages",
      params: messageParamsSchema,
      status: 200,
      response: bodies.message,
    },
    async ({ params }, req, res) => {
      res.json({ message: await messages.get(currentUser(req), params.message_id) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "patch",
      path: "/messages/:message_id",
      summary: "Edit a message (sender, within the edit window)",
      tag: "messages",
      params: messageParamsSchema,
      body: editMessageSchema,
      status: 200,
      response: bodies.message,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params, body }, req, res) => {
      res.json({ message: await ops.edit(currentUser(req), params.message_id, body.text) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "delete",
      path: "/messages/:message_id",
      summary: "Delete a message for the caller or for everyone",
      tag: "messages",
      params: messageParamsSchema,
      query: deleteMessageQuerySchema,
      status: 204,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params, query }, req, res) => {
      await ops.delete(currentUser(req), params.message_id, query.for);
      res.status(204).end();
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "put",
      path: "/messages/:message_id/reaction",
      summary: "Set the caller's reaction",
      tag: "messages",
      params: messageParamsSchema,
      body: reactionSchema,
      status: 200,
      response: bodies.message,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params, body }, req, res) => {
      res.json({ message: await ops.react(currentUser(req), params.message_id, body.emoji) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "delete",
      path: "/messages/:message_id/reaction",
      summary: "Remove the caller's reaction",
      tag: "messages",
      params: messageParamsSchema,
      status: 204,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params }, req, res) => {
      await ops.react(currentUser(req), params.message_id, null);
      res.status(204).end();
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "put",
      path: "/messages/:message_id/star",
      summary: "Star a message for the caller",
      tag: "messages",
      params: messageParamsSchema,
      status: 204,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params }, req, res) => {
      await ops.star(currentUser(req), params.message_id, true);
      res.status(204).end();
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "delete",
      path: "/messages/:message_id/star",
      summary: "Unstar a message",
      tag: "messages",
      params: messageParamsSchema,
      status: 204,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params }, req, res) => {
      await ops.star(currentUser(req), params.message_id, false);
      res.status(204).end();
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/starred",
      summary: "The caller's starred messages, newest star first",
      tag: "messages",
      query: listQuerySchema,
      status: 200,
      response: bodies.messagePage,
    },
    async ({ query }, req, res) => {
      res.json(await stars.list(currentUser(req), query));
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "post",
      path: "/messages/:message_id/forward",
      summary: "Forward a message to up to 5 rooms (copies arrive as message:new)",
      tag: "messages",
      params: messageParamsSchema,
      body: forwardSchema,
      status: 202,
      response: bodies.forward,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params, body }, req, res) => {
      res.status(202).json(await forward.forward(currentUser(req), params.message_id, body.room_ids));
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/messages/:message_id/info",
      summary: "Who received and read a message (sender)",
      tag: "messages",
      params: messageParamsSchema,
      status: 200,
      response: bodies.info,
      errors: ["forbidden", "rate_limited"],
    },
    async ({ params }, req, res) => {
      res.json(await ops.info(currentUser(req), params.message_id));
    },
  );

  return router;
}
