import { z } from "zod";
import type { ChatsSyncPayload, MessagesSyncPayload } from "../contract/events.ts";
import { deviceIdSchema } from "../contract/ids.ts";
import { pageLimitSchema } from "../kernel/cursor.ts";
import { idSchema } from "../kernel/ids.ts";
import type { Accepts } from "../kernel/type-checks.ts";

/** A cursor is the id of the state the server keeps for it (a ULID). */
const since = idSchema.optional();

/** REST 28 and socket `chats:sync`. */
export const syncRoomsSchema = z.object({ device_id: deviceIdSchema, since });
export type SyncRoomsInput = z.infer<typeof syncRoomsSchema>;
const _chatsSync: Accepts<z.input<typeof syncRoomsSchema>, ChatsSyncPayload> = true;

/** REST 29 and socket `messages:sync`. */
export const syncMessagesSchema = z.object({
  device_id: deviceIdSchema,
  since,
  limit: pageLimitSchema,
});
export type SyncMessagesInput = z.infer<typeof syncMessagesSchema>;
const _messagesSync: Accepts<z.input<typeof syncMessagesSchema>, MessagesSyncPayload> = true;

/** What a messages cursor stands for: per room, the revision the device has everything up to. */
export const messagesStateSchema = z.record(idSchema, z.number().int().min(0));
/** What a rooms cursor stands for: per room, a fingerprint of the room as the device last got it. */
export const roomsStateSchema = z.record(idSchema, z.string());
