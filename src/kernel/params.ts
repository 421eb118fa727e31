import { z } from "zod";
import { pageLimitSchema } from "./cursor.ts";
import { idSchema } from "./ids.ts";

/** Path parameters and queries several features' routes share. */
export const roomParamsSchema = z.object({ room_id: idSchema });

/** A page of a list: at most `limit` items after the opaque `cursor`. */
export const listQuerySchema = z.object({
  limit: pageLimitSchema,
  cursor: z.string().max(500).optional(),
});
export type ListQuery = z.infer<typeof listQuerySchema>;
