import type { ErrorCode } from "./error-codes.ts";
import type {
  DeviceView,
  MediaView,
  MessagesSync,
  MessageView,
  PresenceView,
  RoomsSync,
  RoomView,
} from "./views.ts";

/**
 * The Socket.IO events of API.md ("Socket.IO"), as the generics of socket.io's `Server` and
 * socket.io-client's `Socket`: a renamed event or field fails the server's and the clients'
 * type checks alike.
 */

/** API.md "Errors": the body of an error, in a REST answer and in a socket ack. */
export type ErrorBody = { code: ErrorCode; message: string; details?: unknown };

/** Every client-to-server event answers through its ack: `{ok: true, ...}` or `{ok: false, error}`. */
export type Ack<T extends object = Record<never, never>> =
  | ({ ok: true } & T)
  | { ok: false; error: ErrorBody };

/** `message:send`: REST 9's body plus the room. */
export type SendPayload = {
  room_id: string;
  client_id: string;
  type: "text" | "image" | "video" | "audio" | "file";
  text?: string;
  media_id?: string;
  reply_to_id?: string;
  mentions?: string[];
};
/** `message:read` / `message:delivered`: everything up to `seq` is read (delivered); monotonic. */
export type ReceiptPayload = { room_id: string; seq: number };
export type TypingPayload = { room_id: string };
/** `chats:sync`: REST 28's query. */
export type ChatsSyncPayload = { device_id: string; since?: string };
/** `messages:sync`: REST 29's query. */
export type MessagesSyncPayload = { device_id: string; since?: string; limit?: number };
/** `chats:synced`: REST 28's body, and when the server answered. */
type ChatsSynced = RoomsSync & { timestamp: string };

export type ClientToServerEvents = {
  "message:send": (payload: SendPayload, ack: (reply: Ack<{ message: MessageView }>) => void) => void;
  "message:read": (payload: ReceiptPayload, ack: (reply: Ack) => void) => void;
  "message:delivered": (payload: ReceiptPayload, ack: (reply: Ack) => void) => void;
  "typing:start": (payload: TypingPayload, ack: (reply: Ack) => void) => void;
  "typing:stop": (payload: TypingPayload, ack: (reply: Ack) => void) => void;
  /** Answers in the ack and also emits `chats:synced` to the asking socket. */
  "chats:sync": (payload: ChatsSyncPayload, ack: (reply: Ack<ChatsSynced>) => void) => void;
  /** Answers in the ack and also emits `messages:synced` to the asking socket. */
  "messages:sync": (payload: MessagesSyncPayload, ack: (reply: Ack<MessagesSync>) => void) => void;
};

/** What a client-to-server event's ack carries besides `ok: true`. */
export type AckReply<E extends keyof ClientToServerEvents> = Parameters<
  Parameters<ClientToServerEvents[E]>[1]
>[0] extends infer R
  ? Omit<Extract<R, { ok: true }>, "ok">
  : never;

type MessageFailed = { message_id: string; room_id: string; client_id: string; reason: string };
export type ReceiptUpdate = { room_id: string; user_id: string; read_seq: number; delivered_seq: number };
export type DeviceUpdate = { device: DeviceView } | { device_id: string; deleted: true };
type RoomMembers = { room_id: string; user_ids: string[] };

export type ServerToClientEvents = {
  "message:new": (payload: { message: MessageView }) => void;
  /** An edit, a delete for everyone (a tombstone), a reaction, its media settling. */
  "message:updated": (payload: { message: MessageView }) => void;
  /** Persistence failed for good: drop the optimistic copy. */
  "message:failed": (payload: MessageFailed) => void;
  "mention:new": (payload: { message: MessageView }) => void;
  "receipt:updated": (payload: ReceiptUpdate) => void;
  typing: (payload: { room_id: string; user_id: string; typing: boolean }) => void;
  /** To users sharing a direct room. */
  presence: (payload: { user_id: string } & PresenceView) => void;
  "room:created": (payload: { room: RoomView }) => void;
  "room:updated": (payload: { room: RoomView }) => void;
  /** To every member of the room, the added users included. */
  "room:member_added": (payload: RoomMembers) => void;
  /** To every member of the room, the removed users included. */
  "room:member_removed": (payload: RoomMembers) => void;
  "media:ready": (payload: { media: MediaView }) => void;
  "media:failed": (payload: { media: MediaView }) => void;
  "chats:synced": (payload: ChatsSynced) => void;
  "messages:synced": (payload: MessagesSync) => void;
  /** To the user's sockets when one of their devices is registered, changed or removed. */
  "device:updated": (payload: DeviceUpdate) => void;
};

/** A membership change moving users' sockets into or out of a room, on every node. */
export type MembershipMove = { kind: "join" | "leave"; user_ids: string[]; room_id: string };

/** Between API nodes (never clients): each node answers once its own sockets have moved. */
export type InterServerEvents = {
  "membership:move": (move: MembershipMove, ack: (ok: boolean) => void) => void;
};
