// The objects of docs/api.md ("Objects"), as this client reads them.

export type MediaKind = "image" | "video" | "audio" | "file";

export type Media = {
  id: string;
  kind: MediaKind;
  status: "pending" | "processing" | "ready" | "failed";
  content_type: string;
  size: number;
  filename: string;
  url: string | null;
  thumbnail_url: string | null;
  placeholder: string | null;
  width: number | null;
  height: number | null;
  duration: number | null;
  failure_reason: string | null;
};

export type SystemEvent = {
  event: "members_added" | "members_removed" | "role_changed" | "room_updated";
  actor_id: string;
  user_ids?: string[];
  role?: string;
  fields?: string[];
};

export type Message = {
  id: string;
  room_id: string;
  seq: number;
  rev: number;
  system: SystemEvent | null;
  sender_id: string;
  client_id: string;
  type: "text" | MediaKind | "system";
  text: string | null;
  media: Media | null;
  reply_to_id: string | null;
  mentions: string[];
  forwarded: {
    original_message_id: string;
    original_sender_id: string;
    forward_count: number;
    many_times: boolean;
  } | null;
  reactions: Record<string, number>;
  my_reaction: string | null;
  starred: boolean;
  edited_at: string | null;
  deleted: boolean;
  created_at: string;
};

export type RoomSettings = { muted_until: string | null; pinned: boolean; archived: boolean };

export type Member = { user_id: string; role: "admin" | "member"; joined_at: string };

export type Room = {
  id: string;
  type: "direct" | "group";
  name: string | null;
  description: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  members_count: number;
  last_seq: number;
  last_message: Message | null;
  unread_count: number;
  direct_member_ids: [string, string] | null;
  settings: RoomSettings;
  members?: Member[];
};

export type ErrorBody = { code: string; message: string; details?: unknown };

export type Ack<T> = ({ ok: true } & T) | { ok: false; error: ErrorBody };

export type Presence = { online: boolean; last_seen_at: string | null };
