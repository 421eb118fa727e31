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
import { CouchbaseBlocks } from "./blocks.couchbase.ts";
import { type CouchbaseHandles, Db } from "./couchbase.layout.ts";
import { CouchbaseDevices } from "./devices.couchbase.ts";
import { CouchbaseMedia } from "./media.couchbase.ts";
import { CouchbaseMessageState } from "./message-state.couchbase.ts";
import { CouchbaseMessages } from "./messages.couchbase.ts";
import { CouchbaseRooms } from "./rooms.couchbase.ts";
import { CouchbaseSearch } from "./search.couchbase.ts";
import { CouchbaseChanges } from "./sync.couchbase.ts";

/** Every port on one Couchbase scope (production). `ping` and `close` come from the connection. */
export class CouchbaseStore implements Store {
  readonly #rooms: CouchbaseRooms;
  readonly #messages: CouchbaseMessages;
  readonly #state: CouchbaseMessageState;
  readonly #blocks: CouchbaseBlocks;
  readonly #search: CouchbaseSearch;
  readonly #media: CouchbaseMedia;
  readonly #devices: CouchbaseDevices;
  readonly #changes: CouchbaseChanges;
  readonly #ping: () => Promise<void>;
  readonly #close: () => Promise<void>;

  constructor(
    handles: CouchbaseHandles,
    lifecycle: { ping: () => Promise<void>; close: () => Promise<void> },
  ) {
    const db = new Db(handles);
    this.#rooms = new CouchbaseRooms(db);
    this.#messages = new CouchbaseMessages(db, this.#rooms);
    this.#state = new CouchbaseMessageState(db, this.#rooms);
    this.#blocks = new CouchbaseBlocks(db);
    this.#search = new CouchbaseSearch(db, this.#rooms);
    this.#media = new CouchbaseMedia(db);
    this.#devices = new CouchbaseDevices(db);
    this.#changes = new CouchbaseChanges(db);
    this.#ping = lifecycle.ping;
    this.#close = lifecycle.close;
  }

  ping(): Promise<void> {
    return this.#ping();
  }
  close(): Promise<void> {
    return this.#close();
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
  getMembers(roomId: string): Promise<MemberRecord[]> {
    return this.#rooms.getMembers(roomId);
  }
  getMember(roomId: string, userId: string): Promise<MemberRecord | null> {
    return this.#rooms.getMember(roomId, userId);
  }
  listMemberIds(roomId: string): Promise<string[]> {
    return this.#rooms.listMemberIds(roomId);
  }
  listRoomIdsForUser(userId: string): Promise<string[]> {
    return this.#rooms.listRoomIdsForUser(userId);
  }
  directPartners(userId: string): Promise<string[]> {
    return this.#rooms.directPartners(userId);
  }
  shareRoom(a: string, b: string): Promise<boolean> {
    return this.#rooms.shareRoom(a, b);
  }
  listMemberships(userId: string): Promise<{ member: MemberRecord; last_seq: number }[]> {
    return this.#rooms.listMemberships(userId);
  }
  updateReceipts(roomId: string, userId: string, change: ReceiptChange): Promise<MemberRecord | null> {
    return this.#rooms.updateReceipts(roomId, userId, change);
  }
  updateSettings(roomId: string, userId: string, change: SettingsChange): Promise<MemberRecord | null> {
    return this.#rooms.updateSettings(roomId, userId, change);
  }
  addMembers(
    roomId: string,
    members: NewMember[],
    maxMembers: number,
    rev: number,
    readSeq: number,
  ): Promise<string[] | "full"> {
    return this.#rooms.addMembers(roomId, members, maxMembers, rev, readSeq);
  }
  removeMember(
    roomId: string,
    userId: string,
    rev: number,
  ): Promise<{ removed: boolean; promoted: string | null }> {
    return this.#rooms.removeMember(roomId, userId, rev);
  }
  setRole(
    roomId: string,
    userId: string,
    role: MemberRole,
    rev: number,
  ): Promise<MemberRecord | "last_admin" | null> {
    return this.#rooms.setRole(roomId, userId, role, rev);
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
  listStarred(userId: string, limit: number, after?: StarCursor): Promise<StarRow[]> {
    return this.#state.listStarred(userId, limit, after);
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

  searchMessages(
    userId: string,
    query: SearchQuery,
  ): Promise<{ messages: MessageRecord[]; next: string | null }> {
    return this.#search.searchMessages(userId, query);
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
    return this.#rooms.memberRooms(userId);
  }
  messageChanges(roomId: string, afterRev: number, uptoRev: number, viewerId: string, limit: number) {
    return this.#changes.messageChanges(roomId, afterRev, uptoRev, viewerId, limit);
  }
  saveSyncCursor(cursor: SyncCursorRecord, keep: string[]): Promise<boolean> {
    return this.#devices.saveSyncCursor(cursor, keep);
  }
  getSyncCursor(id: string): Promise<SyncCursorRecord | null> {
    return this.#devices.getSyncCursor(id);
  }
}
