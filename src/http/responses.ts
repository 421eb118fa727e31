import { z } from "zod";
import { idSchema, userIdSchema } from "../contract/ids.ts";
import {
  deviceViewSchema,
  mediaViewSchema,
  messagesSyncSchema,
  messageViewSchema,
  presenceViewSchema,
  roomsSyncSchema,
  roomViewSchema,
} from "../contract/views.ts";

/**
 * The response bodies the OpenAPI document declares, as zod schemas, composed from the
 * contract's objects (src/contract/views.ts), which are the types the services build: a field
 * added to a view is in the document too.
 */

const time = z.iso.datetime();
const count = z.number().int().min(0);
const cursor = z.string().nullable().describe("pass as `cursor` for the next page; null at the end");

/** The bodies, by what routes answer. */
export const bodies = {
  room: z.strictObject({ room: roomViewSchema }),
  rooms: z.strictObject({ rooms: z.array(roomViewSchema), next_cursor: cursor }),
  message: z.strictObject({ message: messageViewSchema }),
  messagePage: z.strictObject({ messages: z.array(messageViewSchema), next_cursor: cursor }),
  history: z.strictObject({ messages: z.array(messageViewSchema), has_more: z.boolean() }),
  unread: z.strictObject({ total: count, rooms: z.record(idSchema, count) }),
  forward: z.strictObject({ forward_id: idSchema, room_ids: z.array(idSchema) }),
  info: z.strictObject({
    delivered: z.array(z.strictObject({ user_id: userIdSchema, at: time.nullable() })),
    read: z.array(z.strictObject({ user_id: userIdSchema, at: time.nullable() })),
    pending: z.array(userIdSchema),
  }),
  presence: presenceViewSchema,
  device: z.strictObject({ device: deviceViewSchema }),
  devices: z.strictObject({ devices: z.array(deviceViewSchema) }),
  media: z.strictObject({ media: mediaViewSchema }),
  uploadUrl: z.strictObject({
    upload_id: idSchema,
    url: z.string(),
    method: z.literal("PUT"),
    headers: z.record(z.string(), z.string()).describe("send these headers with the PUT"),
    expires_at: time,
  }),
  syncRooms: roomsSyncSchema,
  syncMessages: messagesSyncSchema,
  demoToken: z.strictObject({ token: z.string(), expires_at: time }),
  health: z.strictObject({ status: z.literal("ok") }),
  ready: z.strictObject({
    status: z.enum(["ready", "unavailable"]),
    checks: z.strictObject({ redis: z.enum(["ok", "down"]), store: z.enum(["ok", "down"]) }),
    reason: z.string().optional().describe("while unavailable: what cannot serve, and why"),
  }),
} as const;
