import { z } from "zod";
import { userIdSchema } from "../auth/jwt.ts";

export const roomParamsSchema = z.object({ room_id: z.string().min(1).max(64) });

export const createRoomSchema = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("direct"), member_id: userIdSchema }),
  z.strictObject({
    type: z.literal("group"),
    name: z.string().trim().min(1).max(100),
    member_ids: z.array(userIdSchema).max(10_000),
    description: z.string().max(1000).optional(),
  }),
]);
export type CreateRoomInput = z.infer<typeof createRoomSchema>;

export const listQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(500).optional(),
});
export type ListQuery = z.infer<typeof listQuerySchema>;

export const activityCursorSchema = z.object({ a: z.iso.datetime(), i: z.string().min(1).max(64) });
