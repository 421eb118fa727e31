import { z } from "zod";
import { idSchema, userIdSchema } from "../ids.ts";
import { isBlank, wellFormedText } from "../text.ts";

export const roomParamsSchema = z.object({ room_id: idSchema });

export const createRoomSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("direct"), member_id: userIdSchema }),
  z.strictObject({
    type: z.literal("group"),
    name: wellFormedText()
      .trim()
      .min(1)
      .max(100)
      .refine((s) => !isBlank(s), "must not be blank"),
    member_ids: z.array(userIdSchema).max(10_000),
    description: wellFormedText().max(1000).optional(),
  }),
]);
export type CreateRoomInput = z.infer<typeof createRoomSchema>;

export const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(500).optional(),
});
export type ListQuery = z.infer<typeof listQuerySchema>;

export const activityCursorSchema = z.object({ a: z.iso.datetime(), i: idSchema });
