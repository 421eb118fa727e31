import { z } from "zod";
import type { SendPayload } from "../contract/events.ts";
import { type forwardedSchema, messageViewSchema, type systemEventSchema } from "../contract/views.ts";
import { pageLimitSchema } from "../kernel/cursor.ts";
import { clientIdSchema, idSchema, userIdSchema } from "../kernel/ids.ts";
import { wellFormedText } from "../kernel/text.ts";
import type { Accepts, Exact } from "../kernel/type-checks.ts";
import type { Forwarded, MessageOp, MessageRecord, SystemEvent } from "../store/store.ts";

/**
 * REST 9 body. A `text` message has `text`; a media message (image, video, audio, file) has
 * the `media_id` of a confirmed upload of that kind and an optional caption in `text`.
 */
export const sendMessageSchema = z
  .strictObject({
    client_id: clientIdSchema,
    type: z.enum(["text", "image", "video", "audio", "file"]),
    text: wellFormedText().optional(),
    media_id: idSchema.optional(),
    reply_to_id: idSchema.optional(),
    // The schema's bound only keeps bodies small; the configured cap (MESSAGE_MAX_MENTIONS) is the rule.
    mentions: z.array(userIdSchema).max(1024).optional(),
  })
  .meta({
    examples: [
      { client_id: "c-7f3a", type: "text", text: "See you at 8?" },
      { client_id: "c-7f3b", type: "image", media_id: "01JD8X6V9Q3M5R7T9W1Y3A5C7E", text: "the view" },
    ],
  });
export type SendMessageInput = z.infer<typeof sendMessageSchema>;

/** Socket `message:send`: the REST body plus the room. */
export const socketSendSchema = sendMessageSchema.extend({ room_id: idSchema });
const _sendPayload: Accepts<z.input<typeof socketSendSchema>, SendPayload> = true;

/** Digits only: `before_seq=` (empty) or `1e3` is a 400, not a silently coerced number. */
const seqParam = z
  .string()
  .regex(/^\d{1,16}$/, "must be a non-negative integer")
  .transform(Number)
  .pipe(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER));
export const historyQuerySchema = z.object({
  before_seq: seqParam.optional(),
  after_seq: seqParam.optional(),
  limit: pageLimitSchema,
});
export type HistoryQueryInput = z.infer<typeof historyQuerySchema>;

export const messageParamsSchema = z.object({ message_id: idSchema });

/** REST 30: the service counts distinct targets (at most 5, or 1 for a message forwarded many times). */
export const forwardSchema = z.strictObject({ room_ids: z.array(idSchema).min(1).max(50) });

/** REST 12. */
export const editMessageSchema = z.strictObject({ text: wellFormedText() });

/** REST 13: `for` is required (API.md settled details). */
export const deleteMessageQuerySchema = z.object({ for: z.enum(["me", "everyone"]) });

/**
 * One emoji (a grapheme of emoji code points: skin tones, ZWJ sequences, flags, keycaps);
 * letters and plain digits are not reactions.
 */
const EMOJI = /^(?:\p{Extended_Pictographic}|\p{Emoji_Component}|\u200d|\ufe0f|\u20e3)+$/u;
const HAS_PICTOGRAPH = /\p{Extended_Pictographic}|\p{Regional_Indicator}|\u20e3/u;
const graphemes = new Intl.Segmenter("en", { granularity: "grapheme" });
/** One grapheme; a flag is two regional indicators, never one. */
const oneEmoji = (e: string) => {
  const parts = [...graphemes.segment(e)];
  if (parts.length !== 1) return false;
  const indicators = [...e].filter((c) => /\p{Regional_Indicator}/u.test(c)).length;
  return indicators === 0 || indicators === 2;
};
export const reactionSchema = z.strictObject({
  emoji: z
    .string()
    .min(1)
    .max(32)
    .refine((e) => EMOJI.test(e) && HAS_PICTOGRAPH.test(e) && oneEmoji(e), "must be one emoji"),
});

/**
 * A stored message as it travels through Redis and persist jobs; parsed again on every read:
 * the wire message (contract) without what state and viewer lay over it. An original may lack
 * `forwarded`.
 */
export const messageRecordSchema = messageViewSchema
  .omit({ media: true, reactions: true, my_reaction: true, starred: true, edited_at: true, deleted: true })
  .extend({ forwarded: messageViewSchema.shape.forwarded.optional() });
const _recordExact: Exact<z.infer<typeof messageRecordSchema>, MessageRecord> = true;
const _systemExact: Exact<z.infer<typeof systemEventSchema>, SystemEvent> = true;
const _forwardedExact: Exact<z.infer<typeof forwardedSchema>, Forwarded> = true;

const opBase = {
  message_id: idSchema,
  room_id: idSchema,
  rev: z.number().int().positive(),
  at: z.iso.datetime(),
};
/** A message op as it travels through Redis and persist jobs (store.ts MessageOp). */
export const messageOpSchema = z.discriminatedUnion("kind", [
  z.strictObject({ ...opBase, kind: z.literal("edit"), text: z.string() }),
  z.strictObject({ ...opBase, kind: z.literal("delete") }),
  z.strictObject({
    ...opBase,
    kind: z.literal("react"),
    user_id: userIdSchema,
    emoji: z.string().min(1).max(64).nullable(),
  }),
  z.strictObject({ ...opBase, kind: z.literal("hide"), user_id: userIdSchema }),
  z.strictObject({ ...opBase, kind: z.literal("star"), user_id: userIdSchema, starred: z.boolean() }),
  z.strictObject({ ...opBase, kind: z.literal("media") }),
]);
const _opExact: Exact<z.infer<typeof messageOpSchema>, MessageOp> = true;
