import { z } from "zod";
import { clientIdSchema, deviceIdSchema, idSchema, userIdSchema } from "./ids.ts";

/**
 * The objects of API.md ("Objects") as they travel, in REST bodies and socket events alike.
 * The server builds them (its `to*View` functions return these types), the OpenAPI document
 * is generated from these schemas, and the web client imports the types.
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
    thumbnail_url: z
      .string()
      .nullable()
      .describe("null until ready, and for kinds without one (audio, file)"),
    placeholder: z.string().nullable().describe("a blurred WebP data URL of at most 1 KB"),
    width: count.nullable(),
    height: count.nullable(),
    duration: z.number().min(0).nullable(),
    failure_reason: z.string().nullable(),
    created_at: time,
  })
  .meta({ id: "Media" });
export type MediaView = z.infer<typeof mediaViewSchema>;

const memberRoleSchema = z.enum(["admin", "member"]);

/** What a `system` message tells happened in its room (clients render it in their language). */
export const systemEventSchema = z.discriminatedUnion("event", [
  z.strictObject({
    event: z.literal("members_added"),
    actor_id: userIdSchema,
    user_ids: z.array(userIdSchema),
  }),
  z.strictObject({
    event: z.literal("members_removed"),
    actor_id: userIdSchema,
    user_ids: z.array(userIdSchema),
  }),
  z.strictObject({
    event: z.literal("role_changed"),
    actor_id: userIdSchema,
    user_ids: z.array(userIdSchema),
    role: memberRoleSchema,
  }),
  z.strictObject({
    event: z.literal("room_updated"),
    actor_id: userIdSchema,
    fields: z.array(z.enum(["name", "description", "avatar_media_id"])),
  }),
]);

/** A forwarded copy's provenance. */
export const forwardedSchema = z.strictObject({
  original_message_id: idSchema,
  original_sender_id: userIdSchema,
  forward_count: z
    .number()
    .int()
    .positive()
    .describe("hops from the original: 1 for a forward of an original"),
  many_times: z.boolean().describe("from 5 hops on"),
});

/**
 * A message: its immutable record (id to created_at) with its current state laid over it; a
 * tombstone keeps its identity and loses its content. `rev` is the room revision of its latest
 * change.
 */
export const messageViewSchema = z
  .strictObject({
    id: idSchema,
    room_id: idSchema,
    seq: z.number().int().positive(),
    rev: z.number().int().positive(),
    sender_id: userIdSchema,
    client_id: clientIdSchema,
    type: z.enum(["text", "image", "video", "audio", "file", "system"]),
    text: z.string().nullable(),
    media_id: z.string().nullable(),
    reply_to_id: idSchema.nullable(),
    mentions: z.array(userIdSchema),
    system: systemEventSchema.nullable(),
    forwarded: forwardedSchema.nullable(),
    created_at: time,
    media: mediaViewSchema.nullable(),
    reactions: z.record(z.string(), count).describe("count per emoji"),
    my_reaction: z.string().nullable(),
    starred: z.boolean(),
    edited_at: time.nullable(),
    deleted: z.boolean(),
  })
  .meta({ id: "Message" });
export type MessageView = z.infer<typeof messageViewSchema>;

const roomMemberSchema = z.strictObject({ user_id: userIdSchema, role: memberRoleSchema, joined_at: time });
export type RoomMember = z.infer<typeof roomMemberSchema>;

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
    direct_member_ids: z
      .tuple([userIdSchema, userIdSchema])
      .nullable()
      .describe("a direct room's two members, sorted; null for groups"),
    settings: z.strictObject({ muted_until: time.nullable(), pinned: z.boolean(), archived: z.boolean() }),
    members: z
      .array(roomMemberSchema)
      .optional()
      .describe("one room's members (GET /rooms/{room_id} and the group routes)"),
  })
  .meta({ id: "Room" });
export type RoomView = z.infer<typeof roomViewSchema>;

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
export type DeviceView = z.infer<typeof deviceViewSchema>;

export const presenceViewSchema = z.strictObject({ online: z.boolean(), last_seen_at: time.nullable() });
export type PresenceView = z.infer<typeof presenceViewSchema>;

/** REST 28 and `chats:sync`. */
export const roomsSyncSchema = z.strictObject({
  rooms: z.array(roomViewSchema),
  removed_room_ids: z.array(idSchema),
  next_since: z.string(),
});
export type RoomsSync = z.infer<typeof roomsSyncSchema>;

/** REST 29 and `messages:sync`. */
export const messagesSyncSchema = z.strictObject({
  messages: z.array(messageViewSchema),
  next_since: z.string(),
  has_more: z.boolean(),
});
export type MessagesSync = z.infer<typeof messagesSyncSchema>;
