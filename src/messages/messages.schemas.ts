import { z } from "zod";
import { userIdSchema } from "../auth/jwt.ts";

export const clientIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "1-64 chars of [A-Za-z0-9_.:-]");

/**
 * REST 9 body. Only `text` messages are accepted for now: media types need the media
 * pipeline (upload, confirm, thumbnails), which is a separate feature.
 */
export const sendMessageSchema = z.strictObject({
  client_id: clientIdSchema,
  type: z.literal("text"),
  text: z.string(),
  reply_to_id: z.string().min(1).max(64).optional(),
  mentions: z.array(userIdSchema).max(50).optional(),
});
export type SendMessageInput = z.infer<typeof sendMessageSchema>;

/** Socket `message:send`: the REST body plus the room. */
export const socketSendSchema = sendMessageSchema.extend({ room_id: z.string().min(1).max(64) });

const seqParam = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const historyQuerySchema = z.object({
  before_seq: seqParam.optional(),
  after_seq: seqParam.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
export type HistoryQueryInput = z.infer<typeof historyQuerySchema>;

export const messageParamsSchema = z.object({ message_id: z.string().min(1).max(64) });

/** A stored message as it travels through Redis and persist jobs; parsed again on every read. */
export const messageRecordSchema = z.object({
  id: z.string().min(1).max(64),
  room_id: z.string().min(1).max(64),
  seq: z.number().int().positive(),
  sender_id: userIdSchema,
  client_id: clientIdSchema,
  type: z.enum(["text", "image", "video", "audio", "file", "system"]),
  text: z.string().nullable(),
  media_id: z.string().nullable(),
  reply_to_id: z.string().nullable(),
  mentions: z.array(userIdSchema),
  created_at: z.iso.datetime(),
});
