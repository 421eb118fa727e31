import type {
  Forwarded,
  MemberRecord,
  MessageRecord,
  MessageType,
  RoomRecord,
  SystemEvent,
} from "../store.ts";

/** Row mappers: SQLite's untyped rows to the port's records. */
export type Row = Record<string, unknown>;

export const str = (v: unknown): string => String(v);
export const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
export const num = (v: unknown): number => Number(v);

export const MESSAGE_COLUMNS =
  "id, room_id, seq, rev, sender_id, client_id, type, text, media_id, reply_to_id, mentions, system, forwarded, created_at";

export function messageFromRow(row: Row): MessageRecord {
  return {
    id: str(row.id),
    room_id: str(row.room_id),
    seq: num(row.seq),
    rev: num(row.rev),
    sender_id: str(row.sender_id),
    client_id: str(row.client_id),
    type: str(row.type) as MessageType,
    text: strOrNull(row.text),
    media_id: strOrNull(row.media_id),
    reply_to_id: strOrNull(row.reply_to_id),
    mentions: JSON.parse(str(row.mentions)) as string[],
    system:
      row.system === null || row.system === undefined ? null : (JSON.parse(str(row.system)) as SystemEvent),
    // Only copies carry it: an original reads back as it was written.
    ...(row.forwarded === null || row.forwarded === undefined
      ? {}
      : { forwarded: JSON.parse(str(row.forwarded)) as Forwarded }),
    created_at: str(row.created_at),
  };
}

/** A room with its last message joined in (columns prefixed `m_`). */
export const ROOM_COLUMNS = `r.id, r.type, r.name, r.description, r.avatar_media_id, r.created_by, r.created_at,
  r.updated_at, r.direct_key, r.last_seq, r.rev, r.last_activity_at,
  (SELECT count(*) FROM members c WHERE c.room_id = r.id) AS members_count,
  m.id AS m_id, m.seq AS m_seq, m.rev AS m_rev, m.sender_id AS m_sender_id, m.client_id AS m_client_id,
  m.type AS m_type, m.text AS m_text, m.media_id AS m_media_id, m.reply_to_id AS m_reply_to_id,
  m.mentions AS m_mentions, m.system AS m_system, m.forwarded AS m_forwarded, m.created_at AS m_created_at,
  (SELECT json_object('text', e.text, 'edited_at', e.edited_at, 'rev', e.rev) FROM message_edits e WHERE e.message_id = m.id) AS m_edit,
  (SELECT json_object('at', d.deleted_at, 'rev', d.rev) FROM message_deletes d WHERE d.message_id = m.id) AS m_deleted`;

export function roomFromRow(row: Row): RoomRecord {
  return {
    id: str(row.id),
    type: row.type === "direct" ? "direct" : "group",
    name: strOrNull(row.name),
    description: strOrNull(row.description),
    avatar_media_id: strOrNull(row.avatar_media_id),
    created_by: str(row.created_by),
    created_at: str(row.created_at),
    updated_at: str(row.updated_at),
    direct_key: strOrNull(row.direct_key),
    members_count: num(row.members_count),
    last_seq: num(row.last_seq),
    rev: num(row.rev),
    last_activity_at: str(row.last_activity_at),
    last_message_state:
      row.m_id === null || row.m_id === undefined
        ? null
        : {
            edit: row.m_edit
              ? (JSON.parse(str(row.m_edit)) as { text: string; edited_at: string; rev: number })
              : null,
            deleted: row.m_deleted ? (JSON.parse(str(row.m_deleted)) as { at: string; rev: number }) : null,
          },
    last_message:
      row.m_id === null || row.m_id === undefined
        ? null
        : messageFromRow({
            id: row.m_id,
            room_id: row.id,
            seq: row.m_seq,
            rev: row.m_rev,
            sender_id: row.m_sender_id,
            client_id: row.m_client_id,
            type: row.m_type,
            text: row.m_text,
            media_id: row.m_media_id,
            reply_to_id: row.m_reply_to_id,
            mentions: row.m_mentions,
            system: row.m_system,
            forwarded: row.m_forwarded,
            created_at: row.m_created_at,
          }),
  };
}

export function memberFromRow(row: Row): MemberRecord {
  return {
    room_id: str(row.room_id),
    user_id: str(row.user_id),
    role: row.role === "admin" ? "admin" : "member",
    joined_at: str(row.joined_at),
    read_seq: num(row.read_seq),
    read_at: strOrNull(row.read_at),
    delivered_seq: num(row.delivered_seq),
    delivered_at: strOrNull(row.delivered_at),
    muted_until: strOrNull(row.muted_until),
    pinned: num(row.pinned) === 1,
    archived: num(row.archived) === 1,
  };
}
