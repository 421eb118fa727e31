import { z } from "zod";
import type { ReceiptPayload } from "../contract/events.ts";
import { idSchema, userIdSchema } from "../kernel/ids.ts";
import { displayName, wellFormedText } from "../kernel/text.ts";
import type { Accepts } from "../kernel/type-checks.ts";

export const createRoomSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("direct"), member_id: userIdSchema }),
  z.strictObject({
    type: z.literal("group"),
    name: displayName(100),
    member_ids: z.array(userIdSchema).max(10_000),
    description: wellFormedText().max(1000).optional(),
  }),
]);
export type CreateRoomInput = z.infer<typeof createRoomSchema>;

export const activityCursorSchema = z.object({ a: z.iso.datetime(), i: idSchema });

/** REST 8: partial; `muted_until` null unmutes. */
export const settingsSchema = z
  .strictObject({
    muted_until: z.iso
      .datetime({ offset: true })
      .transform((v) => new Date(v).toISOString())
      .nullable()
      .optional(),
    pinned: z.boolean().optional(),
    archived: z.boolean().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, "give at least one of muted_until, pinned, archived");
export type SettingsInput = z.infer<typeof settingsSchema>;

/** REST 16–17 and socket message:read / message:delivered. */
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const receiptSchema = z.strictObject({ seq });
export const socketReceiptSchema = z.strictObject({ room_id: idSchema, seq });
const _receiptPayload: Accepts<z.input<typeof socketReceiptSchema>, ReceiptPayload> = true;

/** REST 4 (admins): at least one field; description and avatar may be cleared with null. */
export const groupUpdateSchema = z
  .strictObject({
    name: displayName(100).optional(),
    description: wellFormedText().max(1000).nullable().optional(),
    // A media id; that it is the caller's uploaded image is checked once media exist (issue 9).
    avatar_media_id: idSchema.nullable().optional(),
  })
  .refine((v) => Object.keys(v).length > 0, "give at least one of name, description, avatar_media_id");
export type GroupUpdateInput = z.infer<typeof groupUpdateSchema>;

/** REST 5. */
export const addMembersSchema = z.strictObject({ user_ids: z.array(userIdSchema).min(1).max(1024) });
/** REST 6–7 path. */
export const memberParamsSchema = z.object({ room_id: idSchema, user_id: userIdSchema });
/** REST 7. */
export const roleSchema = z.strictObject({ role: z.enum(["admin", "member"]) });
