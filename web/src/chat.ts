import { io, type Socket } from "socket.io-client";
import { ulid } from "ulid";
import type {
  Ack,
  ClientToServerEvents,
  SendPayload,
  ServerToClientEvents,
} from "../../src/contract/events.ts";
import type { MediaView, MessageView, PresenceView, RoomMember, RoomView } from "../../src/contract/views.ts";
import { ApiError, NetworkError, putFile, RestClient } from "./api.ts";
import type { Session } from "./session.ts";

/** What only this client knows of a message it is sending. */
type Outgoing = {
  status: "sending" | "failed";
  error: string | null;
  /** Whether sending again can help (not for a file too large or of a refused type). */
  retryable: boolean;
  file: File | null;
  /** A local preview of the picture being sent (an object URL). */
  previewUrl: string | null;
  mediaId: string | null;
  /** What it is sent as: a file's kind becomes the server's reading of it once uploaded. */
  kind: SendPayload["type"];
};

export type ChatMessage = MessageView & { outgoing?: Outgoing };

export type Timeline = { messages: ChatMessage[]; hasMore: boolean; loading: boolean; loaded: boolean };

export type Notice = { id: number; kind: "error" | "info"; text: string };

export type Receipt = { read: number; delivered: number };

export type Tick = "sending" | "failed" | "sent" | "delivered" | "read";

const SEND_TIMEOUT_MS = 15_000;
const TYPING_REFRESH_MS = 2_000;
const TYPING_IDLE_MS = 4_000;
const SEQ_UNKNOWN = Number.MAX_SAFE_INTEGER;

/** A person-readable sentence for an error, by its code (docs/api.md "Errors"). */
export function describeError(err: unknown): string {
  if (err instanceof NetworkError) return "You're offline: it will be sent when you're back.";
  if (!(err instanceof ApiError)) return err instanceof Error ? err.message : "Something went wrong.";
  switch (err.code) {
    case "rate_limited":
      return `You're going too fast: try again in ${err.retryAfterS ?? 1} s.`;
    case "payload_too_large":
      return `That file is too large to send (${err.message}).`;
    case "unsupported_media_type":
      return `That kind of file can't be sent (${err.message}).`;
    case "forbidden":
      return `Not allowed: ${err.message}.`;
    case "unavailable":
      return "The server is busy: try again in a moment.";
    case "unauthenticated":
      return "Your session has expired: sign in again.";
    case "not_found":
      return "That chat or message is no longer there.";
    default:
      return err.message;
  }
}

/** The other member of a direct room, or null for a group. */
export function peerOf(room: RoomView, me: string): string | null {
  const pair = room.direct_member_ids;
  if (!pair) return null;
  return pair[0] === me ? pair[1] : pair[0];
}

export function roomTitle(room: RoomView, me: string): string {
  return room.type === "group" ? (room.name ?? "Group") : (peerOf(room, me) ?? "Direct chat");
}

function activity(room: RoomView): string {
  return room.last_message?.created_at ?? room.updated_at;
}

function isMuted(room: RoomView): boolean {
  return room.settings.muted_until !== null && Date.parse(room.settings.muted_until) > Date.now();
}

/**
 * The whole client-side state of one signed-in user, and every call to the API. The UI reads
 * its fields and calls its methods; `subscribe` tells it when to render again.
 *
 * How it uses the API (docs/api.md):
 * - sends through `message:send` with a fresh `client_id`, shown at once as pending; a retry
 *   reuses the `client_id`, so the server never makes two messages of one;
 * - merges every message by id and `rev` (the newest state wins), whichever way it arrives:
 *   the send's ack, `message:new`/`message:updated`, history pages or sync;
 * - after any reconnect, catches up with `chats:sync` and `messages:sync` from the cursors of
 *   the last sync, so nothing sent while it was away is missed or shown twice.
 */
export class ChatClient {
  readonly me: string;
  readonly rest: RestClient;
  rooms = new Map<string, RoomView>();
  timelines = new Map<string, Timeline>();
  members = new Map<string, RoomMember[]>();
  receipts = new Map<string, Map<string, Receipt>>();
  typing = new Map<string, Map<string, number>>();
  presence = new Map<string, PresenceView>();
  blocked = new Set<string>();
  notices: Notice[] = [];
  activeRoomId: string | null = null;
  connected = false;
  /** The first sync finished: the room list is complete. */
  ready = false;
  /** Set when the server refused the token: the app goes back to sign-in. */
  expired = false;

  readonly #socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  readonly #deviceId: string;
  readonly #listeners = new Set<() => void>();
  #scheduled = false;
  #noticeId = 0;
  #roomsSince: string | null = null;
  #messagesSince: string | null = null;
  #syncing: Promise<void> | null = null;
  #syncAgain = false;
  #deviceRegistered = false;
  #readSent = new Map<string, number>();
  #deliveredSent = new Map<string, number>();
  #typingSentAt = new Map<string, number>();
  #typingStop = new Map<string, number>();
  readonly #onOnline = () => this.#socket.connect();
  readonly #onOffline = () => this.#socket.disconnect();
  readonly #onVisible = () => {
    if (document.visibilityState === "visible" && this.activeRoomId) this.#markRead(this.activeRoomId);
  };

  constructor(session: Session) {
    this.me = session.userId;
    this.rest = new RestClient(() => session.token);
    this.#deviceId = deviceIdFor(session.userId);
    this.#socket = io({ auth: { token: session.token } });
    this.#listen();
    // A lost network is noticed at once (not after the heartbeat times out), and the socket
    // reconnects, then catches up, as soon as the browser is back online.
    window.addEventListener("online", this.#onOnline);
    window.addEventListener("offline", this.#onOffline);
    document.addEventListener("visibilitychange", this.#onVisible);
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    window.removeEventListener("online", this.#onOnline);
    window.removeEventListener("offline", this.#onOffline);
    document.removeEventListener("visibilitychange", this.#onVisible);
    this.#socket.close();
  }

  /** Renders are batched: many events in one tick cause one render. */
  #changed(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      for (const l of this.#listeners) l();
    });
  }

  notify(kind: Notice["kind"], text: string): void {
    const notice = { id: ++this.#noticeId, kind, text };
    this.notices = [...this.notices.slice(-3), notice];
    this.#changed();
    setTimeout(() => this.dismiss(notice.id), kind === "error" ? 8000 : 5000);
  }

  dismiss(id: number): void {
    this.notices = this.notices.filter((n) => n.id !== id);
    this.#changed();
  }

  // --- RoomView list -----------------------------------------------------------------------

  /** Pinned first, then by latest activity; archived rooms apart. */
  roomList(archived: boolean): RoomView[] {
    return [...this.rooms.values()]
      .filter((r) => r.settings.archived === archived)
      .sort(
        (a, b) =>
          Number(b.settings.pinned) - Number(a.settings.pinned) || activity(b).localeCompare(activity(a)),
      );
  }

  unreadTotal(): number {
    let total = 0;
    for (const r of this.rooms.values()) if (!isMuted(r)) total += r.unread_count;
    return total;
  }

  isMuted(room: RoomView): boolean {
    return isMuted(room);
  }

  /** A room as the server sent it; fields only this viewer has are kept when it left them out. */
  #putRoom(room: RoomView, viewerFields: boolean): void {
    const old = this.rooms.get(room.id);
    if (old && !viewerFields) {
      this.rooms.set(room.id, { ...room, settings: old.settings, unread_count: old.unread_count });
    } else {
      this.rooms.set(room.id, room);
    }
    if (room.members) this.members.set(room.id, room.members);
    this.#changed();
  }

  #dropRoom(roomId: string): void {
    this.rooms.delete(roomId);
    this.timelines.delete(roomId);
    this.members.delete(roomId);
    if (this.activeRoomId === roomId) this.activeRoomId = null;
    this.#changed();
  }

  async createDirect(userId: string): Promise<RoomView> {
    const { room } = await this.rest.createDirect(userId);
    this.#putRoom(room, true);
    return room;
  }

  async createGroup(name: string, memberIds: string[]): Promise<RoomView> {
    const { room } = await this.rest.createGroup(name, memberIds);
    this.#putRoom(room, true);
    return room;
  }

  async updateSettings(roomId: string, settings: Partial<RoomView["settings"]>): Promise<void> {
    const { room } = await this.rest.settings(roomId, settings);
    this.#putRoom(room, true);
  }

  async setBlocked(userId: string, blocked: boolean): Promise<void> {
    await this.rest.block(userId, blocked);
    if (blocked) this.blocked.add(userId);
    else this.blocked.delete(userId);
    this.#changed();
  }

  // --- One room ------------------------------------------------------------------------

  timeline(roomId: string): Timeline {
    let tl = this.timelines.get(roomId);
    if (!tl) {
      tl = { messages: [], hasMore: true, loading: false, loaded: false };
      this.timelines.set(roomId, tl);
    }
    return tl;
  }

  async openRoom(roomId: string): Promise<void> {
    this.activeRoomId = roomId;
    this.#changed();
    const room = this.rooms.get(roomId);
    const tl = this.timeline(roomId);
    try {
      if (!tl.loaded) await this.loadOlder(roomId);
      this.#markRead(roomId);
      const { room: full } = await this.rest.room(roomId);
      this.#putRoom(full, true);
      await this.#seedReceipts(roomId);
      const peer = room && peerOf(room, this.me);
      if (peer) this.presence.set(peer, await this.rest.presence(peer));
      this.#changed();
    } catch (err) {
      this.notify("error", describeError(err));
    }
  }

  closeRoom(): void {
    this.activeRoomId = null;
    this.#changed();
  }

  /** Loads the page before the oldest message shown (the newest page first). */
  async loadOlder(roomId: string): Promise<void> {
    const tl = this.timeline(roomId);
    if (tl.loading || (tl.loaded && !tl.hasMore)) return;
    tl.loading = true;
    this.#changed();
    try {
      const oldest = tl.messages.find((m) => !m.outgoing)?.seq;
      const page = await this.rest.history(roomId, tl.loaded ? oldest : undefined);
      tl.loaded = true;
      tl.hasMore = page.has_more;
      for (const m of page.messages) this.#merge(m, true);
    } finally {
      tl.loading = false;
      this.#changed();
    }
  }

  /**
   * Ticks need the other members' watermarks. Live `receipt:updated` events move them; this
   * seeds them once from the info of the newest message of ours.
   */
  async #seedReceipts(roomId: string): Promise<void> {
    const mine = [...this.timeline(roomId).messages]
      .reverse()
      .find((m) => m.sender_id === this.me && !m.outgoing);
    if (!mine || mine.deleted) return;
    const info = await this.rest.info(mine.id);
    const receipts = this.#receiptsOf(roomId);
    for (const { user_id } of info.delivered) {
      const r = receipts.get(user_id) ?? { read: 0, delivered: 0 };
      receipts.set(user_id, { ...r, delivered: Math.max(r.delivered, mine.seq) });
    }
    for (const { user_id } of info.read) {
      const r = receipts.get(user_id) ?? { read: 0, delivered: 0 };
      receipts.set(user_id, { read: Math.max(r.read, mine.seq), delivered: Math.max(r.delivered, mine.seq) });
    }
  }

  #receiptsOf(roomId: string): Map<string, Receipt> {
    let r = this.receipts.get(roomId);
    if (!r) {
      r = new Map();
      this.receipts.set(roomId, r);
    }
    return r;
  }

  /** The ticks of a message of ours: read or delivered once every other member got that far. */
  tick(message: ChatMessage): Tick {
    if (message.outgoing) return message.outgoing.status;
    const others = (this.members.get(message.room_id) ?? []).filter(
      (m) => m.user_id !== this.me && m.joined_at <= message.created_at,
    );
    if (others.length === 0) return "sent";
    const receipts = this.receipts.get(message.room_id);
    const all = (f: (r: Receipt) => number) =>
      others.every((m) => f(receipts?.get(m.user_id) ?? { read: 0, delivered: 0 }) >= message.seq);
    if (all((r) => r.read)) return "read";
    if (all((r) => Math.max(r.read, r.delivered))) return "delivered";
    return "sent";
  }

  #markRead(roomId: string): void {
    const room = this.rooms.get(roomId);
    if (!room || document.visibilityState !== "visible" || this.activeRoomId !== roomId) return;
    const seq = room.last_seq;
    if (room.unread_count > 0) {
      room.unread_count = 0;
      this.#changed();
    }
    if (seq <= (this.#readSent.get(roomId) ?? 0) || seq === 0) return;
    this.#readSent.set(roomId, seq);
    this.#socket.emit("message:read", { room_id: roomId, seq }, () => {});
  }

  #markDelivered(roomId: string, seq: number): void {
    if (seq <= (this.#deliveredSent.get(roomId) ?? 0)) return;
    this.#deliveredSent.set(roomId, seq);
    this.#socket.emit("message:delivered", { room_id: roomId, seq }, () => {});
  }

  // --- Messages ------------------------------------------------------------------------

  /**
   * Puts a message where it belongs, whatever way it came: an outgoing one is replaced by the
   * server's copy (matched by client_id), a known one only by a newer revision. Broadcasts leave
   * out the viewer's own fields (`my_reaction`, `starred`): those are kept from what we had.
   */
  #merge(incoming: MessageView, viewerFields: boolean): void {
    const room = this.rooms.get(incoming.room_id);
    if (room && incoming.seq >= (room.last_message?.seq ?? 0)) {
      room.last_message = incoming;
      room.last_seq = Math.max(room.last_seq, incoming.seq);
    }
    // Rooms never opened keep only their preview; their history loads when opened.
    const tl = this.timelines.get(incoming.room_id);
    if (!tl) {
      this.#changed();
      return;
    }
    const i = tl.messages.findIndex(
      (m) =>
        m.id === incoming.id ||
        (m.outgoing !== undefined &&
          m.sender_id === incoming.sender_id &&
          m.client_id === incoming.client_id),
    );
    const old = i >= 0 ? tl.messages[i] : undefined;
    if (old && !old.outgoing && old.rev > incoming.rev) return;
    const next: ChatMessage =
      viewerFields || !old
        ? { ...incoming }
        : { ...incoming, my_reaction: old.my_reaction, starred: old.starred };
    if (old?.outgoing?.previewUrl && next.type === "image" && next.media?.status !== "ready") {
      // Keep showing the local picture until the server's thumbnail exists.
      next.outgoing = undefined;
      previews.set(next.id, old.outgoing.previewUrl);
    }
    if (old) tl.messages[i] = next;
    else tl.messages.push(next);
    if (!old || old.seq !== next.seq) tl.messages.sort((a, b) => a.seq - b.seq);
    this.#changed();
  }

  #remove(roomId: string, match: (m: ChatMessage) => boolean): void {
    const tl = this.timelines.get(roomId);
    if (!tl) return;
    tl.messages = tl.messages.filter((m) => !match(m));
    this.#changed();
  }

  findMessage(roomId: string, messageId: string): ChatMessage | undefined {
    return this.timelines.get(roomId)?.messages.find((m) => m.id === messageId);
  }

  /** Shown at once as pending; sent with a fresh client_id (a retry reuses it). */
  async send(
    roomId: string,
    input: { text: string; replyToId?: string | null; file?: File | null },
  ): Promise<void> {
    const clientId = ulid();
    const text = input.text.trim();
    const file = input.file ?? null;
    const type = file ? kindOf(file) : "text";
    const message: ChatMessage = {
      id: `local-${clientId}`,
      room_id: roomId,
      seq: SEQ_UNKNOWN,
      rev: 0,
      system: null,
      sender_id: this.me,
      client_id: clientId,
      type,
      text: text || null,
      media_id: null,
      media: null,
      reply_to_id: input.replyToId ?? null,
      mentions: this.mentionsIn(roomId, text),
      forwarded: null,
      reactions: {},
      my_reaction: null,
      starred: false,
      edited_at: null,
      deleted: false,
      created_at: new Date().toISOString(),
      outgoing: {
        status: "sending",
        error: null,
        retryable: true,
        file,
        previewUrl: file && type === "image" ? URL.createObjectURL(file) : null,
        mediaId: null,
        kind: type,
      },
    };
    this.timeline(roomId).messages.push(message);
    this.stopTyping(roomId);
    this.#changed();
    await this.#deliver(message);
  }

  retry(message: ChatMessage): Promise<void> {
    return this.#deliver(message);
  }

  discard(message: ChatMessage): void {
    if (message.outgoing?.previewUrl) URL.revokeObjectURL(message.outgoing.previewUrl);
    this.#remove(message.room_id, (m) => m === message);
  }

  async #deliver(message: ChatMessage): Promise<void> {
    const out = message.outgoing;
    if (!out) return;
    out.status = "sending";
    out.error = null;
    this.#changed();
    try {
      if (out.file && !out.mediaId) {
        const media = await this.#upload(out.file);
        out.mediaId = media.id;
        out.kind = media.kind;
        message.type = media.kind;
      }
      const ack = answered(
        await this.#socket.timeout(SEND_TIMEOUT_MS).emitWithAck("message:send", {
          room_id: message.room_id,
          client_id: message.client_id,
          type: out.kind,
          ...(message.text ? { text: message.text } : {}),
          ...(out.mediaId ? { media_id: out.mediaId } : {}),
          ...(message.reply_to_id ? { reply_to_id: message.reply_to_id } : {}),
          ...(message.mentions.length ? { mentions: message.mentions } : {}),
        }),
      );
      this.#merge(ack.message, true);
      const room = this.rooms.get(message.room_id);
      if (room) room.unread_count = 0;
    } catch (err) {
      // Still in the list (unless the server took it back): the person decides to retry or drop it.
      if (!this.timelines.get(message.room_id)?.messages.includes(message)) return;
      out.status = "failed";
      out.retryable = !(err instanceof ApiError && [400, 413, 415].includes(err.status));
      out.error =
        err instanceof Error && err.message === "operation has timed out"
          ? "Not sent yet: no answer from the server."
          : describeError(err);
      this.#changed();
    }
  }

  async #upload(file: File): Promise<MediaView> {
    const target = await this.rest.uploadUrl(file);
    await putFile(target, file);
    const { media } = await this.rest.confirm(target.upload_id);
    return media;
  }

  /** `@name` for each member named in the text. */
  mentionsIn(roomId: string, text: string): string[] {
    const ids = new Set((this.members.get(roomId) ?? []).map((m) => m.user_id));
    const found = new Set<string>();
    for (const match of text.matchAll(/@([A-Za-z0-9_.:-]{1,64})/g)) {
      const id = match[1] ?? "";
      if (ids.has(id) && id !== this.me) found.add(id);
    }
    return [...found];
  }

  async edit(message: ChatMessage, text: string): Promise<void> {
    const { message: updated } = await this.rest.edit(message.id, text);
    this.#merge(updated, true);
  }

  async remove(message: ChatMessage, scope: "me" | "everyone"): Promise<void> {
    await this.rest.remove(message.id, scope);
    if (scope === "me") this.#remove(message.room_id, (m) => m.id === message.id);
  }

  /** One reaction per person: the same emoji again takes it back. */
  async react(message: ChatMessage, emoji: string): Promise<void> {
    if (message.my_reaction === emoji) {
      await this.rest.react(message.id, null);
      const { message: fresh } = await this.rest.message(message.id);
      this.#merge(fresh, true);
    } else {
      const res = await this.rest.react(message.id, emoji);
      if (res) this.#merge(res.message, true);
    }
  }

  async star(message: ChatMessage, on: boolean): Promise<void> {
    await this.rest.star(message.id, on);
    const { message: fresh } = await this.rest.message(message.id);
    this.#merge(fresh, true);
  }

  async forward(message: ChatMessage, roomIds: string[]): Promise<void> {
    await this.rest.forward(message.id, roomIds);
  }

  // --- Typing and presence -------------------------------------------------------------

  /** Called on each keystroke: `typing:start` at most every 2 s, `typing:stop` once idle. */
  typingInput(roomId: string): void {
    const now = Date.now();
    if (now - (this.#typingSentAt.get(roomId) ?? 0) > TYPING_REFRESH_MS) {
      this.#typingSentAt.set(roomId, now);
      this.#socket.emit("typing:start", { room_id: roomId }, () => {});
    }
    clearTimeout(this.#typingStop.get(roomId));
    this.#typingStop.set(
      roomId,
      window.setTimeout(() => this.stopTyping(roomId), TYPING_IDLE_MS),
    );
  }

  stopTyping(roomId: string): void {
    clearTimeout(this.#typingStop.get(roomId));
    if (!this.#typingSentAt.get(roomId)) return;
    this.#typingSentAt.delete(roomId);
    this.#socket.emit("typing:stop", { room_id: roomId }, () => {});
  }

  typists(roomId: string): string[] {
    return [...(this.typing.get(roomId)?.keys() ?? [])];
  }

  // --- Socket events and sync ----------------------------------------------------------

  #listen(): void {
    const s = this.#socket;
    s.on("connect", () => {
      this.connected = true;
      this.#changed();
      void this.#sync();
    });
    s.on("disconnect", () => {
      this.connected = false;
      this.typing.clear();
      this.#changed();
    });
    s.on("connect_error", (err) => {
      if (err.message.startsWith("unauthenticated")) {
        this.expired = true;
        this.#changed();
      }
    });
    s.on("message:new", ({ message }) => {
      this.#merge(message, false);
      this.#clearTyping(message.room_id, message.sender_id);
      if (message.sender_id === this.me || message.type === "system") return;
      const room = this.rooms.get(message.room_id);
      if (room && this.activeRoomId === message.room_id && document.visibilityState === "visible") {
        this.#markRead(message.room_id);
      } else {
        if (room) room.unread_count += 1;
        this.#markDelivered(message.room_id, message.seq);
      }
    });
    s.on("message:updated", ({ message }) => this.#merge(message, false));
    s.on("message:failed", (e) => {
      this.#remove(
        e.room_id,
        (m) => m.id === e.message_id || (m.sender_id === this.me && m.client_id === e.client_id),
      );
      this.notify("error", "A message could not be stored and was taken back.");
    });
    s.on("receipt:updated", (e) => {
      this.#receiptsOf(e.room_id).set(e.user_id, { read: e.read_seq, delivered: e.delivered_seq });
      this.#changed();
    });
    s.on("typing", (e) => {
      if (e.typing) {
        let room = this.typing.get(e.room_id);
        if (!room) {
          room = new Map();
          this.typing.set(e.room_id, room);
        }
        clearTimeout(room.get(e.user_id));
        // The server ends typing after 6 s; this is only a guard against a lost event.
        room.set(
          e.user_id,
          window.setTimeout(() => this.#clearTyping(e.room_id, e.user_id), 8000),
        );
      } else {
        this.#clearTyping(e.room_id, e.user_id);
      }
      this.#changed();
    });
    s.on("presence", (e) => {
      this.presence.set(e.user_id, { online: e.online, last_seen_at: e.last_seen_at });
      this.#changed();
    });
    s.on("room:created", ({ room }) => this.#putRoom(room, false));
    s.on("room:updated", ({ room }) => this.#putRoom(room, false));
    s.on("room:member_added", (e) => void this.#refreshRoom(e.room_id));
    s.on("room:member_removed", (e) => {
      if (e.user_ids.includes(this.me)) this.#dropRoom(e.room_id);
      else void this.#refreshRoom(e.room_id);
    });
    s.on("media:failed", ({ media }) =>
      this.notify(
        "error",
        `"${media.filename}" could not be processed: ${media.failure_reason ?? "unknown reason"}.`,
      ),
    );
    s.on("mention:new", ({ message }) => {
      if (message.room_id === this.activeRoomId) return;
      const room = this.rooms.get(message.room_id);
      this.notify(
        "info",
        `@${message.sender_id} mentioned you${room ? ` in “${roomTitle(room, this.me)}”` : ""}.`,
      );
    });
  }

  #clearTyping(roomId: string, userId: string): void {
    const room = this.typing.get(roomId);
    if (!room?.has(userId)) return;
    clearTimeout(room.get(userId));
    room.delete(userId);
    this.#changed();
  }

  async #refreshRoom(roomId: string): Promise<void> {
    try {
      const { room } = await this.rest.room(roomId);
      this.#putRoom(room, true);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) this.#dropRoom(roomId);
    }
  }

  /**
   * Catch-up, after every (re)connect: the rooms whose view changed and the messages that
   * changed since the last cursors, page by page. The first run takes every room and the
   * current message cursor. One run at a time; a reconnect during a run runs it again after.
   */
  #sync(): Promise<void> {
    if (this.#syncing) {
      this.#syncAgain = true;
      return this.#syncing;
    }
    this.#syncing = (async () => {
      try {
        if (!this.#deviceRegistered) {
          await this.rest.registerDevice(this.#deviceId);
          this.#deviceRegistered = true;
        }
        const device = { device_id: this.#deviceId };
        const chats = answered(
          await this.#socket
            .timeout(SEND_TIMEOUT_MS)
            .emitWithAck("chats:sync", this.#roomsSince ? { ...device, since: this.#roomsSince } : device),
        );
        if (!this.#roomsSince) this.rooms.clear();
        for (const room of chats.rooms) {
          this.#putRoom(room, true);
          if (room.unread_count > 0) this.#markDelivered(room.id, room.last_seq);
        }
        for (const id of chats.removed_room_ids) this.#dropRoom(id);
        this.#roomsSince = chats.next_since;
        let since = this.#messagesSince;
        for (;;) {
          const page = answered(
            await this.#socket
              .timeout(SEND_TIMEOUT_MS)
              .emitWithAck("messages:sync", since ? { ...device, since, limit: 100 } : device),
          );
          for (const m of page.messages) this.#merge(m, true);
          since = page.next_since;
          this.#messagesSince = since;
          if (!page.has_more) break;
        }
        this.ready = true;
        if (this.activeRoomId) this.#markRead(this.activeRoomId);
        this.#changed();
      } catch (err) {
        if (this.connected) {
          this.notify("error", `Could not catch up: ${describeError(err)} Retrying…`);
          setTimeout(() => void this.#sync(), 3000);
        }
      } finally {
        this.#syncing = null;
        if (this.#syncAgain) {
          this.#syncAgain = false;
          void this.#sync();
        }
      }
    })();
    return this.#syncing;
  }
}

/** What an ack answered; an error answer is thrown. */
function answered<T extends object>(ack: Ack<T>): T {
  if (!ack.ok) throw ApiError.fromAck(ack.error);
  return ack;
}

/** Local previews of pictures sent from here, kept until the server's thumbnail is ready. */
export const previews = new Map<string, string>();

/** The kind a file is sent as (the server checks its bytes against it). */
function kindOf(file: File): "image" | "video" | "audio" | "file" {
  if (/^image\/(jpeg|png|webp|gif|avif)$/.test(file.type)) return "image";
  if (file.type.startsWith("video/")) return "video";
  if (file.type.startsWith("audio/")) return "audio";
  return "file";
}

/** One device id per user per browser (docs/api.md "Devices"), kept across reloads. */
function deviceIdFor(userId: string): string {
  const key = `chat.device.${userId}`;
  let id = localStorage.getItem(key);
  if (!id) {
    id = `web-${ulid()}`;
    localStorage.setItem(key, id);
  }
  return id;
}
