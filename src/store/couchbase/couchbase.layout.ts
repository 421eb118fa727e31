import { createHash } from "node:crypto";
import {
  type DeviceRecord,
  type MediaLink,
  type MediaRecord,
  type MemberRecord,
  type MemberRole,
  type MessageRecord,
  type RoomRecord,
  StoreRejectedError,
  type SyncCursorRecord,
} from "../store.ts";
import { Kv, type KvCollection, Query, type QueryScope } from "./couchbase.kv.ts";

/**
 * The documents, one collection per kind, in one scope of one bucket (docs/architecture.md,
 * "Couchbase"). Every key is built here from ids whose formats the API has already checked
 * (ULIDs, user/device/client ids of [A-Za-z0-9_.:-]), joined by `|`, which none of them can
 * contain, so no input can name another document. Push tokens (free text) are hashed.
 */
export const COLLECTIONS = [
  "rooms",
  "member_state",
  "direct_rooms",
  "messages",
  "message_keys",
  "message_state",
  "user_messages",
  "rollbacks",
  "blocks",
  "media",
  "media_quota",
  "media_links",
  "devices",
  "push_tokens",
  "sync_cursors",
] as const;
export type CollectionName = (typeof COLLECTIONS)[number];

/** A key's parts, joined; a part that could pass for a separator is refused (ids are checked upstream too). */
function key(...parts: (string | number)[]): string {
  for (const p of parts) {
    if (typeof p === "string" && !/^[A-Za-z0-9_.:-]{1,64}$/.test(p)) {
      throw new StoreRejectedError(`not an id: ${JSON.stringify(p.slice(0, 70))}`);
    }
  }
  return parts.join("|");
}

export const keys = {
  member: (roomId: string, userId: string) => key(roomId, userId),
  seq: (roomId: string, seq: number) => key("seq", roomId, seq),
  clientId: (roomId: string, senderId: string, clientId: string) => key("cid", roomId, senderId, clientId),
  userMessage: (userId: string, messageId: string) => key(userId, messageId),
  block: (blockerId: string, blockedId: string) => key(blockerId, blockedId),
  mediaLink: (mediaId: string, messageId: string) => key(mediaId, messageId),
  /** The sorted pair a direct room is unique for (the same `a|b` the room's direct_key holds). */
  pair: (a: string, b: string) => key(...[a, b].sort()),
  pushToken: (token: string) => createHash("sha256").update(token).digest("hex"),
};

/** Who is in a room: the room document holds it, so every membership rule is one atomic write. */
export type RosterEntry = {
  user_id: string;
  role: MemberRole;
  joined_at: string;
  /** The room revision the member joined at (0 for founders); tells this membership from an earlier one. */
  joined_rev: number;
  /** Watermarks a member starts with (the history before they joined is not unread). */
  start_seq: number;
};

/** `rooms/<room_id>`: the room, its roster (oldest first), and the roster's ids for the index. */
export type RoomDoc = Omit<RoomRecord, "members_count" | "last_message_state"> & {
  members: RosterEntry[];
  member_ids: string[];
};

/**
 * `member_state/<room_id>|<user_id>`: a member's watermarks and settings, written on the first
 * change. It counts only while its `joined_rev` is the roster entry's (a left-over of an
 * earlier membership is ignored, so removal and re-adding never need two writes to agree).
 */
export type MemberStateDoc = Omit<MemberRecord, "room_id" | "user_id" | "role" | "joined_at"> & {
  joined_rev: number;
};

/** `direct_rooms/<a|b>`: the one direct room of a pair (insert-if-absent decides who creates it). */
export type DirectRoomDoc = { room_id: string };

/** Text as search compares it (`search_text`): compatibility-decomposed, accents dropped, lower case. */
export function foldForSearch(text: string): string {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

/** `messages/<message_id>`: the immutable record, and its text folded for search. */
export type MessageDoc = MessageRecord & { search_text: string | null };

/** `message_keys/seq|<room>|<seq>` and `cid|<room>|<sender>|<client_id>`: uniqueness of a message's seq and client id. */
export type MessageKeyDoc = { message_id: string };

/**
 * `message_state/<message_id>`: every change all members see (edit, delete, reactions, media),
 * merged by revision, plus who hid it (search leaves it out for them). `rev` is the highest
 * revision of a change everyone sees.
 */
export type MessageStateDoc = {
  message_id: string;
  room_id: string;
  edit: { text: string; edited_at: string; rev: number } | null;
  /** The edited text folded for search (null when not edited). */
  search_text: string | null;
  deleted: { at: string; rev: number } | null;
  reactions: Record<string, { emoji: string | null; rev: number }>;
  media_rev: number;
  hidden_by: string[];
  rev: number;
};

/** `user_messages/<user_id>|<message_id>`: one user's own marks on a message (hide, star). */
export type UserMessageDoc = {
  user_id: string;
  message_id: string;
  room_id: string;
  hidden: { at: string; rev: number } | null;
  star: { starred: boolean; at: string; rev: number } | null;
  rev: number;
};

/** `rollbacks/<message_id>`: a message the store refused for good, with its tombstone's revision. */
export type RollbackDoc = {
  message_id: string;
  room_id: string;
  rev: number;
  record: MessageRecord;
  at: string;
};

/** `blocks/<blocker>|<blocked>`: exists while the block does. */
export type BlockDoc = { blocker_id: string; blocked_id: string; at: string };

/** `media/<media_id>`. */
export type MediaDoc = MediaRecord;

/** `media_quota/<owner_id>`: the owner's recent uploads, so a quota check and its record are one write. */
export type MediaQuotaDoc = { uploads: { id: string; size: number; created_at: string }[] };

/** `media_links/<media_id>|<message_id>`. */
export type MediaLinkDoc = MediaLink;

/**
 * `devices/<user_id>`: all of a user's devices in one document, so the per-user cap and a
 * device's sync cursors are checked and changed in one write.
 */
export type DevicesDoc = {
  user_id: string;
  /** `push_claim`: the registration that set push_token (absent on entries written before it existed). */
  devices: (DeviceRecord & { cursors: Record<string, string[]>; push_claim?: string | null })[];
};

/** `push_tokens/<sha256(token)>`: which device holds a token (one at a time). */
export type PushTokenDoc = { token: string; user_id: string; device_id: string; claim?: string | null };

export type SyncCursorDoc = SyncCursorRecord;

/** The SDK handles the adapter works through (the real Scope, or fakes in unit tests). */
export type CouchbaseHandles = {
  collection(name: CollectionName): KvCollection;
  scope: QueryScope;
};

/** Typed access to every collection, and SQL++ in the scope. */
export class Db {
  readonly rooms: Kv<RoomDoc>;
  readonly memberState: Kv<MemberStateDoc>;
  readonly directRooms: Kv<DirectRoomDoc>;
  readonly messages: Kv<MessageDoc>;
  readonly messageKeys: Kv<MessageKeyDoc>;
  readonly messageState: Kv<MessageStateDoc>;
  readonly userMessages: Kv<UserMessageDoc>;
  readonly rollbacks: Kv<RollbackDoc>;
  readonly blocks: Kv<BlockDoc>;
  readonly media: Kv<MediaDoc>;
  readonly mediaQuota: Kv<MediaQuotaDoc>;
  readonly mediaLinks: Kv<MediaLinkDoc>;
  readonly devices: Kv<DevicesDoc>;
  readonly pushTokens: Kv<PushTokenDoc>;
  readonly syncCursors: Kv<SyncCursorDoc>;
  readonly q: Query;

  constructor(h: CouchbaseHandles) {
    const kv = <T>(name: CollectionName) => new Kv<T>(h.collection(name), name);
    this.rooms = kv("rooms");
    this.memberState = kv("member_state");
    this.directRooms = kv("direct_rooms");
    this.messages = kv("messages");
    this.messageKeys = kv("message_keys");
    this.messageState = kv("message_state");
    this.userMessages = kv("user_messages");
    this.rollbacks = kv("rollbacks");
    this.blocks = kv("blocks");
    this.media = kv("media");
    this.mediaQuota = kv("media_quota");
    this.mediaLinks = kv("media_links");
    this.devices = kv("devices");
    this.pushTokens = kv("push_tokens");
    this.syncCursors = kv("sync_cursors");
    this.q = new Query(h.scope);
  }
}

/**
 * Secondary indexes (SQL++ runs in the scope, so collections are named bare). Created by
 * `npm run couchbase:init`, which skips those that exist; each serves queries in couchbase.queries.ts.
 */
export const INDEXES: { name: string; statement: string }[] = [
  {
    name: "rooms_by_member",
    statement:
      "CREATE INDEX rooms_by_member ON rooms(DISTINCT ARRAY u FOR u IN member_ids END, last_activity_at DESC, id DESC)",
  },
  {
    name: "rooms_by_avatar",
    statement: "CREATE INDEX rooms_by_avatar ON rooms(avatar_media_id, id)",
  },
  {
    name: "messages_by_seq",
    statement: "CREATE INDEX messages_by_seq ON messages(room_id, seq)",
  },
  {
    // History pages read backwards from a seq: the index service cannot scan an index in reverse.
    name: "messages_by_seq_desc",
    statement: "CREATE INDEX messages_by_seq_desc ON messages(room_id, seq DESC)",
  },
  {
    name: "messages_by_rev",
    statement: "CREATE INDEX messages_by_rev ON messages(room_id, rev)",
  },
  {
    name: "messages_by_time",
    statement:
      "CREATE INDEX messages_by_time ON messages(room_id, created_at DESC, id DESC) WHERE search_text IS VALUED",
  },
  {
    name: "messages_system",
    statement: 'CREATE INDEX messages_system ON messages(room_id, seq) WHERE type = "system"',
  },
  {
    name: "message_state_by_rev",
    statement: "CREATE INDEX message_state_by_rev ON message_state(room_id, rev)",
  },
  {
    name: "user_messages_by_rev",
    statement: "CREATE INDEX user_messages_by_rev ON user_messages(user_id, room_id, rev)",
  },
  {
    name: "user_messages_starred",
    statement:
      "CREATE INDEX user_messages_starred ON user_messages(user_id, star.`at` DESC, message_id DESC) WHERE star.starred = TRUE",
  },
  {
    name: "rollbacks_by_rev",
    statement: "CREATE INDEX rollbacks_by_rev ON rollbacks(room_id, rev)",
  },
  {
    name: "media_links_by_media",
    statement: "CREATE INDEX media_links_by_media ON media_links(media_id, message_id)",
  },
];
