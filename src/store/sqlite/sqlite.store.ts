import type {
  ActivityCursor,
  DeviceRecord,
  DeviceUpsert,
  HistoryQuery,
  InsertResult,
  MediaChange,
  MediaLink,
  MediaRecord,
  MediaStatus,
  MemberRecord,
  MemberRole,
  MessageOp,
  MessageRecord,
  MessageState,
  NewMember,
  NewRoom,
  ReactionRow,
  ReceiptChange,
  RoomChange,
  RoomForUser,
  RoomRecord,
  SearchQuery,
  SettingsChange,
  StarCursor,
  StarRow,
  Store,
  SyncCursorRecord,
} from "../store.ts";
import { SqliteBlocks } from "./blocks.sqlite.ts";
import { SqliteDb, type SqliteStoreOptions } from "./db.ts";
import { SqliteDevices } from "./devices.sqlite.ts";
import { SqliteMedia } from "./media.sqlite.ts";
import { SqliteMessageState } from "./message-state.sqlite.ts";
import { SqliteMessages } from "./messages.sqlite.ts";
import { SqliteMembers, SqliteRooms } from "./rooms.sqlite.ts";
import { SqliteSearch } from "./search.sqlite.ts";
import { SqliteSync } from "./sync.sqlite.ts";

export { StoreMissingError } from "./db.ts";

/** Every port on one SQLite connection (the embedded default). */
export class SqliteStore implements Store {
  readonly #db: SqliteDb;
  readonly #rooms: SqliteRooms;
  readonly #members: SqliteMembers;
  readonly #messages: SqliteMessages;
  readonly #state: SqliteMessageState;
  readonly #blocks: SqliteBlocks;
  readonly #search: SqliteSearch;
  readonly #media: SqliteMedia;
  readonly #devices: SqliteDevices;
  readonly #sync: SqliteSync;

  constructor(file: string, options: SqliteStoreOptions = {}) {
    this.#db = new SqliteDb(file, options);
    this.#rooms = new SqliteRooms(this.#db);
    this.#members = new SqliteMembers(this.#db);
    this.#messages = new SqliteMessages(this.#db);
    this.#state = new SqliteMessageState(this.#db);
    this.#blocks = new SqliteBlocks(this.#db);
    this.#search = new SqliteSearch(this.#db);
    this.#media = new SqliteMedia(this.#db);
    this.#devices = new SqliteDevices(this.#db);
    this.#sync = new SqliteSync(this.#db);
  }

  searchMessages(
    userId: string,
    query: SearchQuery,
  ): Promise<{ messages: MessageRecord[]; next: string | null }> {
    return this.#search.searchMessages(userId, query);
  }

  block(blockerId: string, blockedId: string, at: string): Promise<void> {
    return this.#blocks.block(blockerId, blockedId, at);
  }
  unblock(blockerId: string, blockedId: string): Promise<void> {
    return this.#blocks.unblock(blockerId, blockedId);
  }
  isBlocked(blockerId: string, blockedId: string): Promise<boolean> {
    return this.#blocks.isBlocked(blockerId, blockedId);
  }
  blockersOf(userId: string, userIds: string[]): Promise<string[]> {
    return this.#blocks.blockersOf(userId, userIds);
  }
  isRoomBlocked(roomId: string): Promise<boolean> {
    return this.#blocks.isRoomBlocked(roomId);
  }
  directRoomId(a: string, b: string): Promise<string | null> {
    return this.#blocks.directRoomId(a, b);
  }

  listStarred(userId: string, limit: number, after?: StarCursor): Promise<StarRow[]> {
    return this.#state.listStarred(userId, limit, after);
  }

  createMedia(media: MediaRecord, quota?: { since: string; maxBytes: number }) {
    return this.#media.createMedia(media, quota);
  }
  getMedia(mediaId: string): Promise<MediaRecord | null> {
    return this.#media.getMedia(mediaId);
  }
  getMediaMany(mediaIds: string[]): Promise<Map<string, MediaRecord>> {
    return this.#media.getMediaMany(mediaIds);
  }
  updateMedia(mediaId: string, from: MediaStatus[], change: MediaChange): Promise<MediaRecord | null> {
    return this.#media.updateMedia(mediaId, from, change);
  }
  deleteMedia(mediaId: string, at: string): Promise<MediaRecord | null> {
    return this.#media.deleteMedia(mediaId, at);
  }
  linkMedia(links: MediaLink[]): Promise<void> {
    return this.#media.linkMedia(links);
  }
  mediaLinks(mediaId: string, limit: number): Promise<MediaLink[]> {
    return this.#media.mediaLinks(mediaId, limit);
  }
  mediaLinksForMember(mediaId: string, userId: string, limit: number): Promise<MediaLink[]> {
    return this.#media.mediaLinksForMember(mediaId, userId, limit);
  }

  upsertDevice(d: DeviceUpsert, maxDevices: number) {
    return this.#devices.upsertDevice(d, maxDevices);
  }
  getDevice(userId: string, deviceId: string): Promise<DeviceRecord | null> {
    return this.#devices.getDevice(userId, deviceId);
  }
  listDevices(userId: string): Promise<DeviceRecord[]> {
    return this.#devices.listDevices(userId);
  }
  devicesOf(userIds: string[]): Promise<DeviceRecord[]> {
    return this.#devices.devicesOf(userIds);
  }
  deleteDevice(userId: string, deviceId: string): Promise<boolean> {
    return this.#devices.deleteDevice(userId, deviceId);
  }
  touchDevice(userId: string, deviceId: string, times: { last_sync_at?: string; last_seen_at?: string }) {
    return this.#devices.touchDevice(userId, deviceId, times);
  }
  dropPushToken(token: string): Promise<void> {
    return this.#devices.dropPushToken(token);
  }

  memberRooms(userId: string): Promise<{ room_id: string; joined_rev: number }[]> {
    return this.#sync.memberRooms(userId);
  }
  messageChanges(roomId: string, afterRev: number, uptoRev: number, viewerId: string, limit: number) {
    return this.#sync.messageChanges(roomId, afterRev, uptoRev, viewerId, limit);
  }
  saveSyncCursor(cursor: SyncCursorRecord, keep: string[]): Promise<boolean> {
    return this.#sync.saveSyncCursor(cursor, keep);
  }
  getSyncCursor(id: string): Promise<SyncCursorRecord | null> {
    return this.#sync.getSyncCursor(id);
  }

  ping(): Promise<void> {
    return this.#db.ping();
  }
  close(): Promise<void> {
    return this.#db.close();
  }

  createGroupRoom(room: NewRoom, members: NewMember[]): Promise<RoomRecord> {
    return this.#rooms.createGroupRoom(room, members);
  }
  getOrCreateDirectRoom(
    room: NewRoom,
    members: NewMember[],
  ): Promise<{ room: RoomRecord; created: boolean }> {
    return this.#rooms.getOrCreateDirectRoom(room, members);
  }
  getRoom(roomId: string): Promise<RoomRecord | null> {
    return this.#rooms.getRoom(roomId);
  }
  listRoomsForUser(userId: string, limit: number, after?: ActivityCursor): Promise<RoomForUser[]> {
    return this.#rooms.listRoomsForUser(userId, limit, after);
  }

  updateRoom(roomId: string, change: RoomChange): Promise<RoomRecord | null> {
    return this.#rooms.updateRoom(roomId, change);
  }
  addMembers(
    roomId: string,
    members: NewMember[],
    maxMembers: number,
    rev: number,
    readSeq: number,
  ): Promise<string[] | "full"> {
    return this.#members.addMembers(roomId, members, maxMembers, rev, readSeq);
  }
  removeMember(
    roomId: string,
    userId: string,
    rev: number,
  ): Promise<{ removed: boolean; promoted: string | null }> {
    return this.#members.removeMember(roomId, userId, rev);
  }
  setRole(
    roomId: string,
    userId: string,
    role: MemberRole,
    rev: number,
  ): Promise<MemberRecord | "last_admin" | null> {
    return this.#members.setRole(roomId, userId, role, rev);
  }
  getMembers(roomId: string): Promise<MemberRecord[]> {
    return this.#members.getMembers(roomId);
  }
  getMember(roomId: string, userId: string): Promise<MemberRecord | null> {
    return this.#members.getMember(roomId, userId);
  }
  listMemberIds(roomId: string): Promise<string[]> {
    return this.#members.listMemberIds(roomId);
  }
  listRoomIdsForUser(userId: string): Promise<string[]> {
    return this.#members.listRoomIdsForUser(userId);
  }
  directPartners(userId: string): Promise<string[]> {
    return this.#members.directPartners(userId);
  }
  shareRoom(a: string, b: string): Promise<boolean> {
    return this.#members.shareRoom(a, b);
  }
  listMemberships(userId: string): Promise<{ member: MemberRecord; last_seq: number }[]> {
    return this.#members.listMemberships(userId);
  }
  updateReceipts(roomId: string, userId: string, change: ReceiptChange): Promise<MemberRecord | null> {
    return this.#members.updateReceipts(roomId, userId, change);
  }
  updateSettings(roomId: string, userId: string, change: SettingsChange): Promise<MemberRecord | null> {
    return this.#members.updateSettings(roomId, userId, change);
  }

  insertMessages(messages: MessageRecord[]): Promise<InsertResult> {
    return this.#messages.insertMessages(messages);
  }
  getMessage(messageId: string): Promise<MessageRecord | null> {
    return this.#messages.getMessage(messageId);
  }
  getMessages(messageIds: string[]): Promise<MessageRecord[]> {
    return this.#messages.getMessages(messageIds);
  }
  recordRollbacks(items: { message: MessageRecord; rev: number; at: string }[]): Promise<void> {
    return this.#messages.recordRollbacks(items);
  }
  getRolledBack(messageIds: string[]): Promise<MessageRecord[]> {
    return this.#messages.getRolledBack(messageIds);
  }
  getMessageByClientId(roomId: string, senderId: string, clientId: string): Promise<MessageRecord | null> {
    return this.#messages.getMessageByClientId(roomId, senderId, clientId);
  }
  listMessages(roomId: string, query: HistoryQuery): Promise<MessageRecord[]> {
    return this.#messages.listMessages(roomId, query);
  }
  roomCounters(roomId: string): Promise<{ seq: number; rev: number }> {
    return this.#messages.roomCounters(roomId);
  }
  systemSeqsAfter(after: { room_id: string; seq: number }[]): Promise<Map<string, number[]>> {
    return this.#messages.systemSeqsAfter(after);
  }

  applyMessageOps(ops: MessageOp[]): Promise<void> {
    return this.#state.applyMessageOps(ops);
  }
  getMessageStates(messages: MessageRecord[], viewerId: string): Promise<Map<string, MessageState>> {
    return this.#state.getMessageStates(messages, viewerId);
  }
  getReactions(messageId: string): Promise<ReactionRow[]> {
    return this.#state.getReactions(messageId);
  }
}
