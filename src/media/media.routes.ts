import { Router } from "express";
import { currentUser } from "../auth/auth.middleware.ts";
import { parse } from "../errors.ts";
import { confirmSchema, mediaParamsSchema, uploadUrlSchema } from "./media.schemas.ts";
import type { MediaService } from "./media.service.ts";

/** API.md 21–24. */
export function mediaRoutes(media: MediaService): Router {
  const router = Router();

  router.post("/media/upload-url", async (req, res) => {
    res.status(201).json(await media.createUpload(currentUser(req), parse(uploadUrlSchema, req.body)));
  });

  router.post("/media/confirm", async (req, res) => {
    res.json({ media: await media.confirm(currentUser(req), parse(confirmSchema, req.body)) });
  });

  router.get("/media/:media_id", async (req, res) => {
    const { media_id } = parse(mediaParamsSchema, req.params);
    res.json({ media: await media.get(currentUser(req), media_id) });
  });

  router.delete("/media/:media_id", async (req, res) => {
    const { media_id } = parse(mediaParamsSchema, req.params);
    await media.delete(currentUser(req), media_id);
    res.status(204).end();
  });

  return router;
}
