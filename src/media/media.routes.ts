import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { bodies } from "../http/responses.ts";
import { CHAT_BASE, route } from "../http/route.ts";
import { confirmSchema, mediaParamsSchema, uploadUrlSchema } from "./media.schemas.ts";
import type { MediaService } from "./media.service.ts";

/** API.md 21–24. */
export function mediaRoutes(media: MediaService): Router {
  const router = Router();

  route(
    router,
    CHAT_BASE,
    {
      method: "post",
      path: "/media/upload-url",
      summary: "A presigned URL to PUT a file to",
      tag: "media",
      body: uploadUrlSchema,
      status: 201,
      response: bodies.uploadUrl,
      errors: ["rate_limited"],
    },
    async ({ body }, req, res) => {
      res.status(201).json(await media.createUpload(currentUser(req), body));
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "post",
      path: "/media/confirm",
      summary: "Check an upload and queue its processing",
      tag: "media",
      body: confirmSchema,
      status: 200,
      response: bodies.media,
      errors: ["not_found", "conflict"],
    },
    async ({ body }, req, res) => {
      res.json({ media: await media.confirm(currentUser(req), body) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "get",
      path: "/media/:media_id",
      summary: "A media's metadata and signed URLs",
      tag: "media",
      params: mediaParamsSchema,
      status: 200,
      response: bodies.media,
    },
    async ({ params }, req, res) => {
      res.json({ media: await media.get(currentUser(req), params.media_id) });
    },
  );

  route(
    router,
    CHAT_BASE,
    {
      method: "delete",
      path: "/media/:media_id",
      summary: "Delete a media (uploader)",
      tag: "media",
      params: mediaParamsSchema,
      status: 204,
      errors: ["forbidden"],
    },
    async ({ params }, req, res) => {
      await media.delete(currentUser(req), params.media_id);
      res.status(204).end();
    },
  );

  return router;
}
