import { z } from "zod";
import { deviceIdSchema } from "../devices/devices.schemas.ts";
import type { DeviceView } from "../devices/devices.service.ts";
import { idSchema, userIdSchema } from "../kernel/ids.ts";
import type { Exact } from "../kernel/type-checks.ts";
import type { MediaView } from "../media/media.views.ts";
import { messageRecordSchema } from "../messages/messages.schemas.ts";
import type { MessageView } from "../messages/messages.views.ts";
import type { PresenceView } from "../presence/presence.ts";
import type { RoomView } from "../rooms/rooms.views.ts";

/**
 * The response bodies the OpenAPI document declares, as zod schemas. The views are TypeScript
 * types built by the services; each schema here is checked equal to its view at compile time,
 * so a field added to a view fails the build until the document says it too.
 */

const time = z.iso.datetime();
const count = z.number().int().min(0);

export const mediaViewSchema = z
  .strictObject({
    id: idSchema,
    kind: z.enum(["image", "video", "audio", "file"]),
    status: z.enum(["pending", "processing", "ready", "failed"]),
    content_type: z.string(),
    size: count,
    filename: z.string(),
    url: z.string().nullable().describe("signed and expiring; null until confirmed and for a failed media"),
    thumbnail_url: z.string().nullable(),
    placeholder: z.string().nullable().describe("a blurred WebP data URL of at most 1 KB"),
    width: count.nullable(),
    height: count.nullable(),
    duration: z.number().min(0).nullable(),
    failure_reason: z.string().nullable(),
    created_at: time,
  })
  .meta({ id: "Media" });
const _media: Exact<z.infer<typeof mediaViewSchema>, MediaView> = true;

export const messageViewSchema = messageRecordSchema
  .extend({
    forwarded: messageRecordSchema.shape.forwarded.unwrap(),
    media: mediaViewSchema.nullable(),
    reactions: z.record(z.string(), count).describe("count per emoji"),
    my_reaction: z.string().nullable(),
    starred: z.boolean(),
    edited_at: time.nullable(),
    deleted: z.boolean(),
  })
  .meta({ id: "Message" });
const _message: Exact<z.infer<typeof messageViewSchema>, MessageView> = true;

export const roomViewSchema = z
  .strictObject({
    id: idSchema,
    type: z.enum(["direct", "group"]),
    name: z.string().nullable(),
    description: z.string().nullable(),
    avatar_media_id: idSchema.nullable(),
    created_by: userIdSchema,
    created_at: time,
    updated_at: time,
    members_count: count,
    last_seq: count,
    last_message: messageViewSchema.nullable(),
    unread_count: count,
    direct_member_ids: z.tuple([userIdSchema, userIdSchema]).nullable(),
    settings: z.strictObject({ muted_until: time.nullable(), pinned: z.boolean(), archived: z.boolean() }),
    members: z
      .array(z.strictObject({ user_id: userIdSchema, role: z.enum(["admin", "member"]), joined_at: time }))
      .optional()
      .describe("one room's members (GET /rooms/{room_id} and the group routes)"),
  })
  .meta({ id: "Room" });
const _room: Exact<z.infer<typeof roomViewSchema>, RoomView> = true;

export const deviceViewSchema = z
  .strictObject({
    device_id: deviceIdSchema,
    platform: z.enum(["ios", "android", "web", "desktop"]),
    push_token: z.string().nullable(),
    app_version: z.string().nullable(),
    created_at: time,
    updated_at: time,
    last_sync_at: time.nullable(),
    last_seen_at: time.nullable(),
  })
  .meta({ id: "Device" });
const _device: Exact<z.infer<typeof deviceViewSchema>, DeviceView> = true;

export const presenceSchema = z.strictObject({ online: z.boolean(), last_seen_at: time.nullable() });
const _presence: Exact<z.infer<typeof presenceSchema>, PresenceView> = true;

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
  presence: presenceSchema,
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
  syncRooms: z.strictObject({
    rooms: z.array(roomViewSchema),
    removed_room_ids: z.array(idSchema),
    next_since: z.string(),
  }),
  syncMessages: z.strictObject({
    messages: z.array(messageViewSchema),
    next_since: z.string(),
    has_more: z.boolean(),
  }),
  demoToken: z.strictObject({ token: z.string(), expires_at: time }),
  health: z.strictObject({ status: z.literal("ok") }),
  ready: z.strictObject({
    status: z.enum(["ready", "unavailable"]),
    checks: z.strictObject({ redis: z.enum(["ok", "down"]), store: z.enum(["ok", "down"]) }),
    reason: z.string().optional().describe("while unavailable: what cannot serve, and why"),
  }),
} as const;
