import { z } from "zod";
import { clientIdSchema, idSchema, userIdSchema } from "../ids.ts";
import { wellFormedText } from "../text.ts";

/**
 * REST 9 body. Only `text` messages are accepted for now: media types need the media
 * pipeline (upload, confirm, thumbnails), which is a separate feature.
 */
export const sendMessageSchema = z.strictObject({
  client_id: clientIdSchema,
  type: z.literal("text"),
  text: wellFormedText(),
  reply_to_id: idSchema.optional(),
  mentions: z.array(userIdSchema).max(50).optional(),
});
export type SendMessageInput = z.infer<typeof sendMessageSchema>;

/** Socket `message:send`: the REST body plus the room. */
export const socketSendSchema = sendMessageSchema.extend({ room_id: idSchema });

/** Digits only: `before_seq=` (empty) or `1e3` is a 400, not a silently coerced number. */
const seqParam = z
  .string()
  .regex(/^\d{1,16}$/, "must be a non-negative integer")
  .transform(Number)
  .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));
export const historyQuerySchema = z.object({
  before_seq: seqParam.optional(),
  after_seq: seqParam.optional(),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});
export type HistoryQueryInput = z.infer<typeof historyQuerySchema>;

export const messageParamsSchema = z.object({ message_id: idSchema });

/** A stored message as it travels through Redis and persist jobs; parsed again on every read. */
export const messageRecordSchema = z.object({
  id: idSchema,
  room_id: idSchema,
  seq: z.number().int().positive(),
  sender_id: userIdSchema,
  client_id: clientIdSchema,
  type: z.enum(["text", "image", "video", "audio", "file", "system"]),
  text: z.string().nullable(),
  media_id: z.string().nullable(),
  reply_to_id: idSchema.nullable(),
  mentions: z.array(userIdSchema),
  created_at: z.iso.datetime(),
});
