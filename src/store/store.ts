/**
 * The storage port. Services depend on this interface only; adapters (`sqlite/`, later
 * `couchbase/`) implement it and are checked by the same contract suite (test/contract).
 * Records use the API's snake_case field names so one shape travels from the accept path
 * through Redis and the persist job to the database.
 */

export type RoomType = "direct" | "group";
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
  last_message: MessageRecord | null;
  /** Most recent activity (creation or last persisted message), for list order. */
  last_activity_at: string;
};

export type MemberRecord = {
  room_id: string;
  user_id: string;
  role: MemberRole;
  joined_at: string;
  read_seq: number;
};

export type MessageRecord = {
  id: string;
  room_id: string;
  seq: number;
  sender_id: string;
  client_id: string;
  type: MessageType;
  text: string | null;
  media_id: string | null;
  reply_to_id: string | null;
  mentions: string[];
  created_at: string;
};

export type NewRoom = Omit<RoomRecord, "members_count" | "last_seq" | "last_message" | "last_activity_at">;
export type NewMember = Omit<MemberRecord, "room_id" | "read_seq">;

export type RoomForUser = { room: RoomRecord; member: MemberRecord };
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

export interface Store {
  /** Throws when the store cannot read, or cannot write after a write failed (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;

  createGroupRoom(room: NewRoom, members: NewMember[]): Promise<RoomRecord>;
  /** The pair's one direct room: creates it, or returns the existing one (also under races). */
  getOrCreateDirectRoom(room: NewRoom, members: NewMember[]): Promise<{ room: RoomRecord; created: boolean }>;
  getRoom(roomId: string): Promise<RoomRecord | null>;
  /** Rooms of a user, most recent activity first, strictly after the cursor. */
  listRoomsForUser(userId: string, limit: number, after?: ActivityCursor): Promise<RoomForUser[]>;
  getMembers(roomId: string): Promise<MemberRecord[]>;
  getMember(roomId: string, userId: string): Promise<MemberRecord | null>;
  listMemberIds(roomId: string): Promise<string[]>;
  listRoomIdsForUser(userId: string): Promise<string[]>;

  /**
   * Writes new messages; idempotent by id (a replayed batch changes nothing). Advances each
   * room's last_seq / last_message / activity and the sender's read_seq. Atomic per call;
   * throws StoreRejectedError when the data can never be written.
   */
  insertMessages(messages: MessageRecord[]): Promise<void>;
  getMessage(messageId: string): Promise<MessageRecord | null>;
  /** The message a sender sent with this client_id, if stored: (sender_id, client_id) is unique. */
  getMessageByClientId(senderId: string, clientId: string): Promise<MessageRecord | null>;
  /** Ascending by seq. With afterSeq: the first `limit` after it; otherwise the last `limit` before beforeSeq (or the newest). */
  listMessages(roomId: string, query: HistoryQuery): Promise<MessageRecord[]>;
  maxSeq(roomId: string): Promise<number>;
}
