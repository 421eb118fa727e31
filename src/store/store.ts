/**
 * The storage ports: one small interface per entity group, each method's contract written
 * beside it. Services depend on the ports they use; adapters (`sqlite/`, `couchbase/`)
 * implement them and pass the contract suites in test/contract/. Nothing here needs a
 * multi-document transaction larger than one message (or one room with its members), so a
 * document store can implement every method with single-document atomic writes.
 *
 * Records use the API's snake_case field names so one shape travels from the accept path
 * through Redis and the persist job to the database. Every read sees the caller's own earlier
 * writes (read-your-writes on one connection).
 */

type RoomType = "direct" | "group";
export type MemberRole = "admin" | "member";
export type MessageType = "text" | "image" | "video" | "audio" | "file" | "system";

export type RoomRecord = {
  id: string;
  type: RoomType;
  name: string | null;
  description: string | null;
  avatar_media_id: string | null;
  created_by: string;
  created_at: string;
  updated_at: string;
  /** Sorted "a|b" user pair for direct rooms, unique; null for groups. */
  direct_key: string | null;
  members_count: number;
  last_seq: number;
  /** Highest room revision the store has written for this room (messages and their state). */
  rev: number;
  last_message: MessageRecord | null;
  /** The last message's stored state (an edit, a delete), so room lists never show stale or deleted text. */
  last_message_state: Pick<MessageState, "edit" | "deleted"> | null;
  /** Most recent activity (creation or last persisted message), for list order. */
  last_activity_at: string;
};

export type MemberRecord = {
  room_id: string;
  user_id: string;
  role: MemberRole;
  joined_at: string;
  /** Read watermark: every message up to this seq is read (sending implies reading). */
  read_seq: number;
  read_at: string | null;
  /** Delivered watermark, never below the read one. */
  delivered_seq: number;
  delivered_at: string | null;
  /** The member's own settings for the room. */
  muted_until: string | null;
  pinned: boolean;
  archived: boolean;
};

export type ReceiptChange = {
  read_seq?: number | undefined;
  delivered_seq?: number | undefined;
  at: string;
  /** The room revision of this change (sync reads receipts by it). */
  rev: number;
};
export type SettingsChange = {
  muted_until?: string | null | undefined;
  pinned?: boolean | undefined;
  archived?: boolean | undefined;
  rev: number;
};

/**
 * The immutable part of a message: written once (insert-if-absent by id), never changed.
 * Edits, deletes, reactions, hides and stars are MessageOps applied beside it.
 */
export type MessageRecord = {
  id: string;
  room_id: string;
  seq: number;
  /** The room revision of the message's creation. */
  rev: number;
  sender_id: string;
  client_id: string;
  type: MessageType;
  /** The original text; an edit does not change it (see MessageState). */
  text: string | null;
  media_id: string | null;
  reply_to_id: string | null;
  mentions: string[];
  /** For `system` messages: what happened in the room (clients render it in their language). */
  system: SystemEvent | null;
  /** A forwarded copy's provenance (absent or null for an original). */
  forwarded?: Forwarded | null | undefined;
  created_at: string;
};

export type Forwarded = {
  original_message_id: string;
  original_sender_id: string;
  /** How many hops from the original: 1 for a forward of an original. */
  forward_count: number;
  /** From 5 hops on. */
  many_times: boolean;
};

/** The story a `system` message tells. `actor_id` did it; for a leave, actor and user are the same. */
export type SystemEvent =
  | { event: "members_added"; actor_id: string; user_ids: string[] }
  | { event: "members_removed"; actor_id: string; user_ids: string[] }
  | { event: "role_changed"; actor_id: string; user_ids: string[]; role: MemberRole }
  | { event: "room_updated"; actor_id: string; fields: ("name" | "description" | "avatar_media_id")[] };

type OpBase = {
  message_id: string;
  room_id: string;
  /** The room revision the change was given in Redis when it was accepted. */
  rev: number;
  /** When the change was accepted (ISO time). */
  at: string;
};
/**
 * A change to a message's state. Applied by revision: for each field (the text; a user's
 * reaction; a user's star) the op with the highest rev wins whatever the order of arrival;
 * a delete and a hide stick once applied. An op may arrive before its message's record.
 */
export type MessageOp =
  | (OpBase & { kind: "edit"; text: string })
  /** Delete for everyone, or a rollback: the message becomes a tombstone. */
  | (OpBase & { kind: "delete" })
  /** A user's reaction; emoji null removes it. */
  | (OpBase & { kind: "react"; user_id: string; emoji: string | null })
  /** Delete for one user: hidden from that user only. */
  | (OpBase & { kind: "hide"; user_id: string })
  | (OpBase & { kind: "star"; user_id: string; starred: boolean })
  /** The message's media changed (processed, failed or deleted): only the state's rev moves. */
  | (OpBase & { kind: "media" });

/** The current state of a message, as one viewer sees it. */
export type MessageState = {
  message_id: string;
  /** The edited text and when, or null if never edited. */
  edit: { text: string; edited_at: string; rev: number } | null;
  deleted: { at: string; rev: number } | null;
  /** Reaction counts by emoji, over every user. */
  reactions: Record<string, number>;
  my_reaction: string | null;
  /** Rev of the viewer's reaction row (0 if none): a pending op applies only above it. */
  my_reaction_rev: number;
  hidden: boolean;
  starred: boolean;
  /** Rev of the viewer's star row (0 if none). */
  star_rev: number;
  /** The highest revision of any change to this message (its record's rev if none). */
  rev: number;
};

/** The state of a message nobody changed yet. */
export function initialMessageState(m: Pick<MessageRecord, "id" | "rev">): MessageState {
  return {
    message_id: m.id,
    edit: null,
    deleted: null,
    reactions: {},
    my_reaction: null,
    my_reaction_rev: 0,
    hidden: false,
    starred: false,
    star_rev: 0,
    rev: m.rev,
  };
}

/** One user's reaction row, for overlaying pending reaction ops on stored counts. */
export type ReactionRow = { user_id: string; emoji: string | null; rev: number };

export type NewRoom = Omit<
  RoomRecord,
  "members_count" | "last_seq" | "rev" | "last_message" | "last_message_state" | "last_activity_at"
>;
export type NewMember = Pick<MemberRecord, "user_id" | "role" | "joined_at">;

export type RoomForUser = { room: RoomRecord; member: MemberRecord };
/**
 * What an unread count needs of a membership, and the room's stored last seq: GET /unread
 * reads one per room of the user, so no more than that.
 */
export type UnreadMembership = {
  member: Pick<MemberRecord, "room_id" | "user_id" | "read_seq" | "muted_until">;
  last_seq: number;
};
export type ActivityCursor = { last_activity_at: string; id: string };
export type HistoryQuery = { beforeSeq?: number | undefined; afterSeq?: number | undefined; limit: number };

/** Thrown when the store refuses data for good (constraint, missing room): retrying cannot help. */
export class StoreRejectedError extends Error {}

/**
 * The store cannot serve now (locked past the wait, disk full, I/O error, file gone) but may
 * later: the API answers 503 with Retry-After, a job is retried, nothing is rolled back.
 */
export class StoreUnavailableError extends Error {
  readonly retryAfterS: number;
  constructor(message: string, options?: { cause?: unknown; retryAfterS?: number }) {
    super(message, { cause: options?.cause });
    this.retryAfterS = options?.retryAfterS ?? 1;
  }
}

export interface RoomsStore {
  /** Creates a group room and its members in one atomic write. */
  createGroupRoom(room: NewRoom, members: NewMember[]): Promise<RoomRecord>;
  /**
   * The pair's one direct room: creates it with both members, or returns the existing one.
   * Uniqueness of the pair (`direct_key`) holds under concurrent calls from any process.
   */
  getOrCreateDirectRoom(room: NewRoom, members: NewMember[]): Promise<{ room: RoomRecord; created: boolean }>;
  getRoom(roomId: string): Promise<RoomRecord | null>;
  /** Rooms of a user, most recent activity first, strictly after the cursor (keyset paging). */
  listRoomsForUser(userId: string, limit: number, after?: ActivityCursor): Promise<RoomForUser[]>;
  /** Changes the fields given (and updated_at, rev). Null when the room does not exist. */
  updateRoom(roomId: string, change: RoomChange): Promise<RoomRecord | null>;
  /** Ids of rooms whose avatar is this media, at most `limit`, in id order. */
  roomsWithAvatar(mediaId: string, limit: number): Promise<string[]>;
  /**
   * Removes the room's avatar (with updated_at and rev) only while it is still `mediaId`, in
   * one atomic write: an avatar changed meanwhile stays. The room as it now is, or null when
   * nothing changed.
   */
  clearAvatar(
    roomId: string,
    mediaId: string,
    change: { updated_at: string; rev: number },
  ): Promise<RoomRecord | null>;
}

export type RoomChange = {
  name?: string | undefined;
  description?: string | null | undefined;
  avatar_media_id?: string | null | undefined;
  updated_at: string;
  rev: number;
};

export interface MembersStore {
  /** Members of a room, oldest first. */
  getMembers(roomId: string): Promise<MemberRecord[]>;
  getMember(roomId: string, userId: string): Promise<MemberRecord | null>;
  listMemberIds(roomId: string): Promise<string[]>;
  listRoomIdsForUser(userId: string): Promise<string[]>;
  /** The users sharing a direct room with `userId` (who hear of their presence). */
  directPartners(userId: string): Promise<string[]>;
  /** Whether two users share any room (who may ask for a user's presence). */
  shareRoom(a: string, b: string): Promise<boolean>;
  /** Every membership of a user, as its unread count needs it. */
  listMemberships(userId: string): Promise<UnreadMembership[]>;
  /**
   * Moves a member's watermarks up, never down (a lower seq changes nothing); a read moves the
   * delivered watermark with it. Atomic per member. Null when the user is not a member.
   */
  updateReceipts(roomId: string, userId: string, change: ReceiptChange): Promise<MemberRecord | null>;
  /** Changes the fields given, leaves the others. Null when the user is not a member. */
  updateSettings(roomId: string, userId: string, change: SettingsChange): Promise<MemberRecord | null>;
  /**
   * Adds members in one atomic write unless the room would then hold more than `maxMembers`
   * (checked inside the write, so concurrent adds cannot pass the cap together). Users
   * already in the room are left as they are. New members start with their watermarks at
   * `readSeq` (the history before they joined is not unread to them). Returns who was added,
   * or "full".
   */
  addMembers(
    roomId: string,
    members: NewMember[],
    maxMembers: number,
    rev: number,
    readSeq: number,
  ): Promise<string[] | "full">;
  /**
   * Removes a member, atomically promoting the longest-standing remaining member when the last
   * admin goes. Returns whether someone was removed and who was promoted.
   */
  removeMember(
    roomId: string,
    userId: string,
    rev: number,
  ): Promise<{ removed: boolean; promoted: string | null }>;
  /**
   * Sets a member's role. Refuses ("last_admin") to demote the room's only admin. Null when the
   * user is not a member.
   */
  setRole(
    roomId: string,
    userId: string,
    role: MemberRole,
    rev: number,
  ): Promise<MemberRecord | "last_admin" | null>;
}

export type InsertResult = { rejected: { message: MessageRecord; reason: string }[] };

export interface MessagesStore {
  /**
   * Writes message records, each on its own: atomic per message, insert-if-absent by id (a
   * replay changes nothing, and never overwrites state applied since). A message that can
   * never be written (its room does not exist, its (room, seq) or (room, sender, client_id) is
   * taken by another id) is returned in `rejected`; the others are written. Advances each
   * room's last_seq / last_message / rev / activity and the sender's read_seq, never
   * backwards. Throws only for transient failures (StoreUnavailableError).
   */
  insertMessages(messages: MessageRecord[]): Promise<InsertResult>;
  getMessage(messageId: string): Promise<MessageRecord | null>;
  /** The stored ones of these messages, in no particular order. */
  getMessages(messageIds: string[]): Promise<MessageRecord[]>;
  /**
   * Keeps the records of messages the store refused for good (rolled back), with the revision
   * of their tombstone, insert-if-absent, so sync can tell devices that had them to drop them.
   */
  recordRollbacks(items: { message: MessageRecord; rev: number; at: string }[]): Promise<void>;
  /** The rolled-back ones of these messages. */
  getRolledBack(messageIds: string[]): Promise<MessageRecord[]>;
  /** The message a sender sent with this client_id, if stored: (sender_id, client_id) is unique. */
  /** The sender's message with this client_id in this room (client_ids are unique per room and sender). */
  getMessageByClientId(roomId: string, senderId: string, clientId: string): Promise<MessageRecord | null>;
  /** Ascending by seq. With afterSeq: the first `limit` after it; otherwise the last `limit` before beforeSeq (or the newest). */
  listMessages(roomId: string, query: HistoryQuery): Promise<MessageRecord[]>;
  /** The room's highest stored seq and revision (0 when none): what a lost Redis counter is re-seeded above. */
  roomCounters(roomId: string): Promise<{ seq: number; rev: number }>;
  /**
   * Per room, the seqs above the given seq that never count as unread (few): its `system`
   * messages, and messages the store refused for good (rolled back: their seq was taken, but
   * there is no message to read).
   */
  uncountedSeqsAfter(after: { room_id: string; seq: number }[]): Promise<Map<string, number[]>>;
}

export interface MessageStateStore {
  /**
   * Applies ops idempotently and in any order (see MessageOp): replaying an op, or applying
   * two ops in either order, gives the same state. Atomic per op. An op whose message record
   * is not stored yet is kept and takes effect when it is. Advances the room's rev.
   */
  applyMessageOps(ops: MessageOp[]): Promise<void>;
  /** The state of each listed message as `viewerId` sees it; messages without any state get a default entry. */
  getMessageStates(messages: MessageRecord[], viewerId: string): Promise<Map<string, MessageState>>;
  /** Every user's reaction row for one message (to overlay pending reaction changes). */
  getReactions(messageId: string): Promise<ReactionRow[]>;
  /**
   * A user's starred messages, most recently starred first, strictly after the cursor (keyset
   * on starred_at, then message id). Only the star rows: the caller checks each message.
   */
  listStarred(userId: string, limit: number, after?: StarCursor): Promise<StarRow[]>;
}

export type StarRow = { message_id: string; room_id: string; starred_at: string };
export type StarCursor = { starred_at: string; message_id: string };

export interface BlocksStore {
  /** Records that `blockerId` blocks `blockedId` (idempotent). */
  block(blockerId: string, blockedId: string, at: string): Promise<void>;
  /** Lifts it (idempotent). */
  unblock(blockerId: string, blockedId: string): Promise<void>;
  /** Whether `blockerId` blocks `blockedId` (one direction). */
  isBlocked(blockerId: string, blockedId: string): Promise<boolean>;
  /** Of `userIds`, those who block `userId`. */
  blockersOf(userId: string, userIds: string[]): Promise<string[]>;
  /** True for a direct room whose two members have a block between them, either way. */
  isRoomBlocked(roomId: string): Promise<boolean>;
  /** The pair's direct room, if it exists. */
  directRoomId(a: string, b: string): Promise<string | null>;
}

export type SearchQuery = {
  /** Words that must all appear in the text, in any order (each at least 3 characters). */
  terms: string[];
  roomId?: string | undefined;
  limit: number;
  /** Keyset: the `next` of the previous page. */
  after?: string | undefined;
};

export interface SearchStore {
  /**
   * Messages matching the query in rooms the user is a member of now, most recently stored
   * first; never tombstones, never messages the user hid. Reflects edits once they are stored.
   * `next` (opaque to callers) continues after the last message returned.
   */
  searchMessages(
    userId: string,
    query: SearchQuery,
  ): Promise<{ messages: MessageRecord[]; next: string | null }>;
}

export type MediaKind = "image" | "video" | "audio" | "file";
export type MediaStatus = "pending" | "processing" | "ready" | "failed";

/**
 * An uploaded file. Created `pending` with the key its upload URL writes to; confirming moves
 * the object to `object_key` (which no client URL can write) and makes it `processing`; the
 * media pool makes it `ready` (thumbnail, placeholder, dimensions) or `failed` (with a reason).
 */
export type MediaRecord = {
  id: string;
  owner_id: string;
  kind: MediaKind;
  status: MediaStatus;
  filename: string;
  /** Declared at upload time, replaced at confirm by the type read from the file's first bytes. */
  content_type: string;
  size: number;
  upload_key: string;
  object_key: string | null;
  thumb_key: string | null;
  /** A tiny blurred WebP as a data URL (at most 1 KB), shown while the thumbnail loads. */
  placeholder: string | null;
  width: number | null;
  height: number | null;
  /** Seconds, for video and audio. */
  duration: number | null;
  failure: string | null;
  created_at: string;
  updated_at: string;
  /** Set once the uploader deleted it: it is gone for everyone. */
  deleted_at: string | null;
};

export type MediaChange = Partial<
  Pick<
    MediaRecord,
    | "status"
    | "content_type"
    | "object_key"
    | "thumb_key"
    | "placeholder"
    | "width"
    | "height"
    | "duration"
    | "failure"
  >
> & { updated_at: string };

/** A message that carries a media (one media may travel in many messages: forwards reuse it). */
export type MediaLink = { media_id: string; room_id: string; message_id: string };

export interface MediaStore {
  /**
   * Creates the record. With a quota: only if the owner's media created after `quota.since`
   * (whatever became of them) plus this one stay within `quota.maxBytes`, checked and written
   * in one atomic step (concurrent requests cannot pass it together); else `used` says how much
   * the window already holds.
   */
  createMedia(
    media: MediaRecord,
    quota?: { since: string; maxBytes: number },
  ): Promise<{ created: true } | { created: false; used: number }>;
  /** The record, deleted or not (callers decide what a deleted one means). */
  getMedia(mediaId: string): Promise<MediaRecord | null>;
  getMediaMany(mediaIds: string[]): Promise<Map<string, MediaRecord>>;
  /**
   * Applies the change only while the record's status is one of `from` and it is not deleted
   * (compare-and-set: two confirms, or a confirm and a delete, cannot both win). Returns the
   * new record, or null when nothing changed.
   */
  updateMedia(mediaId: string, from: MediaStatus[], change: MediaChange): Promise<MediaRecord | null>;
  /** Marks it deleted (idempotent); returns the record as it now is, or null if it never existed. */
  deleteMedia(mediaId: string, at: string): Promise<MediaRecord | null>;
  /** Records links, each insert-if-absent. */
  linkMedia(links: MediaLink[]): Promise<void>;
  /** Links of a media, oldest first, at most `limit`. */
  mediaLinks(mediaId: string, limit: number): Promise<MediaLink[]>;
  /** Links of a media in rooms where `userId` is a member now, at most `limit`. */
  mediaLinksForMember(mediaId: string, userId: string, limit: number): Promise<MediaLink[]>;
}

export type Platform = "ios" | "android" | "web" | "desktop";

/** One of a user's devices (an app install); push goes to its token. */
export type DeviceRecord = {
  user_id: string;
  device_id: string;
  platform: Platform;
  push_token: string | null;
  app_version: string | null;
  created_at: string;
  updated_at: string;
  last_sync_at: string | null;
  last_seen_at: string | null;
};

export type DeviceUpsert = {
  user_id: string;
  device_id: string;
  platform: Platform;
  /** Undefined leaves the token as it is; null removes it. */
  push_token?: string | null | undefined;
  app_version?: string | null | undefined;
  at: string;
};

export interface DevicesStore {
  /**
   * Creates or updates a device. A push token belongs to one device at a time: registering it
   * here takes it off any other device (any user's), atomically. A new device is refused
   * ("full", nothing changed) when the user already has `maxDevices`, checked in the same write.
   * Returns the device, whether it was new, and the device the token was taken from.
   */
  upsertDevice(
    d: DeviceUpsert,
    maxDevices: number,
  ): Promise<
    | {
        device: DeviceRecord;
        created: boolean;
        tokenTakenFrom: { user_id: string; device_id: string } | null;
      }
    | "full"
  >;
  getDevice(userId: string, deviceId: string): Promise<DeviceRecord | null>;
  /** A user's devices, oldest first. */
  listDevices(userId: string): Promise<DeviceRecord[]>;
  /** Every device of these users (push fan-out). */
  devicesOf(userIds: string[]): Promise<DeviceRecord[]>;
  /** Removes the device and its sync cursors; false when there was none. */
  deleteDevice(userId: string, deviceId: string): Promise<boolean>;
  /** Moves last_sync_at / last_seen_at forward; null when there is no such device. */
  touchDevice(
    userId: string,
    deviceId: string,
    times: { last_sync_at?: string; last_seen_at?: string },
  ): Promise<DeviceRecord | null>;
  /** Forgets a push token the provider reported dead (whichever device holds it). */
  dropPushToken(token: string): Promise<void>;
}

export type SyncKind = "rooms" | "messages";
/** What a sync cursor stands for, kept by the server so the cursor itself stays small. */
export type SyncCursorRecord = {
  id: string;
  user_id: string;
  device_id: string;
  kind: SyncKind;
  /** JSON of the per-room state the device has (revisions, or room fingerprints). */
  state: string;
  created_at: string;
};

export interface SyncStore {
  /** The user's rooms now, each with the room revision the user joined at (0 for founders). */
  memberRooms(userId: string): Promise<{ room_id: string; joined_rev: number }[]>;
  /**
   * Messages of a room with a change after `afterRev` (created, edited, deleted, reacted to,
   * media changed, and the viewer's own hides and stars), each once at its latest change
   * revision, oldest first; only those whose latest change is at most `uptoRev`; at most `limit`.
   * Cost grows with the page (the changes walked to fill it), not with the room's history or every
   * change since `afterRev`: a device far behind pays per page, not for its whole gap.
   */
  messageChanges(
    roomId: string,
    afterRev: number,
    uptoRev: number,
    viewerId: string,
    limit: number,
  ): Promise<{ message_id: string; rev: number }[]>;
  /**
   * Saves a cursor only while its device exists (checked in the same write, so a cursor never
   * outlives a device deleted meanwhile), then keeps the device's cursors of that kind down to
   * the `keep` ones and the newest few. False when the device is gone.
   */
  saveSyncCursor(cursor: SyncCursorRecord, keep: string[]): Promise<boolean>;
  getSyncCursor(id: string): Promise<SyncCursorRecord | null>;
}

export interface Store
  extends RoomsStore,
    MembersStore,
    MessagesStore,
    MessageStateStore,
    BlocksStore,
    SearchStore,
    MediaStore,
    DevicesStore,
    SyncStore {
  /** Throws when the store cannot read, or cannot write after a write failed (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The ports a Store is composed of (store.compose.ts), by the part serving each (one object may
 * serve several). Disjoint, so two ports with one method name fail tsc here instead of one
 * silently replacing the other.
 */
export type StorePorts = Disjoint<{
  rooms: RoomsStore;
  members: MembersStore;
  messages: MessagesStore;
  state: MessageStateStore;
  blocks: BlocksStore;
  search: SearchStore;
  media: MediaStore;
  devices: DevicesStore;
  sync: SyncStore;
  lifecycle: Pick<Store, "ping" | "close">;
}>;

/** The names port K shares with any other port of P (never when it shares none). */
type SharedNames<P, K extends keyof P> = keyof P[K] &
  { [O in Exclude<keyof P, K>]: keyof P[O] }[Exclude<keyof P, K>];

/**
 * P itself, when no two of its ports share a name. Otherwise the constraint fails, naming the
 * port and the method: each shared name would have to be `never`, which no method is.
 */
export type Disjoint<P extends { [K in keyof P]: { [N in SharedNames<P, K>]: never } }> = P;
