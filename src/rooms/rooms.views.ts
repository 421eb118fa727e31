import type { MediaView, RoomView } from "../contract/views.ts";
import type { Exact } from "../kernel/type-checks.ts";
import { toMessageView } from "../messages/messages.views.ts";
import { initialMessageState, type MemberRecord, type RoomRecord } from "../store/store.ts";

/**
 * The contract's Room is the record minus storage-only fields, plus the caller's own state: a
 * field added to the record fails this until the contract carries it (or it is left out here).
 */
const _recordFields: Exact<
  Omit<RoomRecord, "direct_key" | "last_activity_at" | "last_message" | "last_message_state" | "rev">,
  Omit<RoomView, "last_message" | "unread_count" | "direct_member_ids" | "settings" | "members">
> = true;

/**
 * The caller's view of a room. `unread` comes from UnreadCounter (derived from the room's last
 * seq and the caller's read watermark, never a counter), with the live last seq beside it.
 */
export function toRoomView(
  room: RoomRecord,
  viewer: MemberRecord | null,
  members?: MemberRecord[],
  unread?: { unread: number; last_seq: number },
  /** Media views by id, for the last message's media. */
  media?: Map<string, MediaView>,
): RoomView {
  return {
    id: room.id,
    type: room.type,
    name: room.name,
    description: room.description,
    avatar_media_id: room.avatar_media_id,
    created_by: room.created_by,
    created_at: room.created_at,
    updated_at: room.updated_at,
    members_count: room.members_count,
    last_seq: Math.max(room.last_seq, unread?.last_seq ?? 0),
    last_message: room.last_message
      ? toMessageView(
          room.last_message,
          { ...initialMessageState(room.last_message), ...(room.last_message_state ?? {}) },
          room.last_message.media_id ? (media?.get(room.last_message.media_id) ?? null) : null,
        )
      : null,
    unread_count: unread?.unread ?? Math.max(0, room.last_seq - (viewer?.read_seq ?? 0)),
    direct_member_ids: directMembers(room.direct_key),
    settings: {
      muted_until: viewer?.muted_until ?? null,
      pinned: viewer?.pinned ?? false,
      archived: viewer?.archived ?? false,
    },
    ...(members
      ? { members: members.map((m) => ({ user_id: m.user_id, role: m.role, joined_at: m.joined_at })) }
      : {}),
  };
}

function directMembers(directKey: string | null): [string, string] | null {
  const [a, b] = directKey?.split("|") ?? [];
  return a && b ? [a, b] : null;
}
