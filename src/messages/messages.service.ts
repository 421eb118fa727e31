import type { AuthUser } from "../auth/jwt.ts";
import type { MessageView } from "../contract/views.ts";
import { AppError, notFound } from "../kernel/errors.ts";
import { newId } from "../kernel/ids.ts";
import { isBlank } from "../kernel/text.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import { messagesAccepted } from "../observability/metrics.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import type { ReplicaWait } from "../redis/replica-wait.ts";
import type { MediaKind, MessageRecord, MessagesStore, SystemEvent } from "../store/store.ts";
import type { AcceptRepository, Unsequenced } from "./accept.repository.ts";
import type { MessageReader } from "./message.reader.ts";
import type { HistoryQueryInput, SendMessageInput } from "./messages.schemas.ts";
import { toMessageView } from "./messages.views.ts";
import type { PersistJobs } from "./persist.queue.ts";
import type { RoomCounters } from "./room-counters.repository.ts";

/** Realtime side of the message path; the API implements it with Socket.IO. */
export interface MessageEvents {
  messageNew(message: MessageView): void;
  /** `mention:new` to each mentioned member's sockets (the sender's excepted). */
  mentionNew?(userIds: string[], message: MessageView): void;
}

export type MessagesConfig = {
  maxTextChars: number;
  maxMentions: number;
  /** IDEMPOTENCY_TTL_S: how long, at least, Redis answers a persisted client_id. */
  idempotencyWindowS: number;
};

/** What sending a media message needs of the media feature (media.service.ts). */
export interface MediaAttachments {
  attachable(user: AuthUser, mediaId: string, kind: MediaKind): Promise<unknown>;
  link(mediaId: string, roomId: string, messageId: string): Promise<void>;
}
export type Transport = "rest" | "socket" | "forward";

export class MessagesService {
  readonly #store: Pick<MessagesStore, "getMessage" | "getMessageByClientId">;
  readonly #members: MembershipCache;
  readonly #accept: AcceptRepository;
  readonly #counters: RoomCounters;
  readonly #reader: MessageReader;
  readonly #persist: PersistJobs;
  readonly #events: MessageEvents;
  readonly #config: MessagesConfig;
  readonly #limits: Pick<RateLimits, "consume"> | undefined;
  readonly #media: MediaAttachments | undefined;
  readonly #replication: Pick<ReplicaWait, "enabled" | "accepted" | "enqueued"> | undefined;

  constructor(deps: {
    store: Pick<MessagesStore, "getMessage" | "getMessageByClientId">;
    members: MembershipCache;
    accept: AcceptRepository;
    counters: RoomCounters;
    reader: MessageReader;
    persist: PersistJobs;
    events: MessageEvents;
    config: MessagesConfig;
    limits?: Pick<RateLimits, "consume">;
    media?: MediaAttachments;
    /** REDIS_WAIT_REPLICAS: answers wait until Redis replicas hold the message. */
    replication?: Pick<ReplicaWait, "enabled" | "accepted" | "enqueued">;
  }) {
    this.#store = deps.store;
    this.#members = deps.members;
    this.#accept = deps.accept;
    this.#counters = deps.counters;
    this.#reader = deps.reader;
    this.#persist = deps.persist;
    this.#events = deps.events;
    this.#config = deps.config;
    this.#limits = deps.limits;
    this.#media = deps.media;
    this.#replication = deps.replication;
  }

  /**
   * Accepts a message: checks everything checkable first (so a rollback stays rare), takes a
   * seq and a rev and makes it durable in Redis, broadcasts it, and returns once its persist
   * job is stored. A repeat of the same (room, sender, client_id) returns the first message.
   */
  async send(
    user: AuthUser,
    roomId: string,
    input: SendMessageInput,
    transport: Transport,
  ): Promise<{ message: MessageView; created: boolean }> {
    await this.#limits?.consume("send", user.id);
    const text = this.#checkText(input);
    if (input.reply_to_id !== undefined) await this.#assertReplyTarget(user, roomId, input.reply_to_id);
    const mentions = [...new Set(input.mentions ?? [])];
    const maxMentions = this.#config.maxMentions;
    if (mentions.length > maxMentions) {
      throw new AppError("invalid_request", `a message may mention at most ${maxMentions} members`, {
        max_mentions: maxMentions,
      });
    }
    const draft: Unsequenced = {
      id: newId(),
      room_id: roomId,
      sender_id: user.id,
      client_id: input.client_id,
      type: input.type,
      text,
      media_id: input.media_id ?? null,
      reply_to_id: input.reply_to_id ?? null,
      mentions,
      system: null,
      created_at: new Date().toISOString(),
    };

    // Redis' client_id entry is a cache of the store's unique (room, sender, client_id): once
    // it is gone (window passed, Redis lost it), the store still knows the first message, and
    // a repeat gets that message back instead of a new one the store would refuse later.
    const checkedAt = performance.now();
    const prior = await this.#store.getMessageByClientId(roomId, user.id, input.client_id);
    if (prior) return this.#replay(user, roomId, prior);
    if (input.type !== "text") await this.#attachMedia(user, roomId, input.type, draft);

    return this.#acceptDraft(user, draft, transport, checkedAt);
  }

  /**
   * A forwarded copy (the fanout pool, API.md 30): a normal message from the forwarder, with
   * the source's current content, its media reused (linked, not copied) and its provenance.
   * The forward id makes the client_id, so a retried job returns the copy it already made.
   */
  async forwardCopy(
    user: AuthUser,
    roomId: string,
    copy: Pick<Unsequenced, "client_id" | "type" | "text" | "media_id" | "forwarded">,
  ): Promise<{ message: MessageView; created: boolean }> {
    const checkedAt = performance.now();
    const prior = await this.#store.getMessageByClientId(roomId, user.id, copy.client_id);
    if (prior) return this.#replay(user, roomId, prior);
    const draft: Unsequenced = {
      ...copy,
      id: newId(),
      room_id: roomId,
      sender_id: user.id,
      reply_to_id: null,
      mentions: [],
      system: null,
      created_at: new Date().toISOString(),
    };
    if (draft.media_id) await this.#media?.link(draft.media_id, roomId, draft.id);
    return this.#acceptDraft(user, draft, "forward", checkedAt);
  }

  /**
   * Sequences a checked draft, broadcasts it, and returns once its persist job is stored.
   * `checkedAt`: when the store last said the client_id was unused. Redis answers a persisted
   * client_id for a window after its persist, so an answer older than half that window (a
   * stall in between) is asked again: a first message persisted meanwhile may have left Redis.
   */
  async #acceptDraft(
    user: AuthUser,
    draft: Unsequenced,
    transport: Transport,
    checkedAt: number,
  ): Promise<{ message: MessageView; created: boolean }> {
    const roomId = draft.room_id;
    let checked = checkedAt;
    for (let attempt = 0; attempt < 3; attempt++) {
      if (performance.now() - checked > (this.#config.idempotencyWindowS * 1000) / 2) {
        checked = performance.now();
        const prior = await this.#store.getMessageByClientId(roomId, user.id, draft.client_id);
        if (prior) return this.#replay(user, roomId, prior);
      }
      const result = await this.#accept.accept(draft);
      switch (result.kind) {
        case "membership_unknown":
          // Unknown rooms are not cached (membership.cache.ts), so decide here.
          if (!(await this.#members.load(roomId)).includes(user.id)) throw notFound("room");
          continue;
        case "counters_missing":
          await this.#counters.seed(roomId);
          continue;
        case "not_member":
          throw notFound("room");
        case "mention_not_member":
          throw new AppError(
            "invalid_request",
            `mentioned user ${result.userId} is not a member of the room`,
          );
        case "backlog_full":
          throw new AppError(
            "unavailable",
            "too many messages are waiting to be stored; retry shortly",
            undefined,
            2,
          );
        case "blocked":
          throw new AppError("forbidden", "a block stands between the members of this direct room");
        case "duplicate": {
          const first = result.pending ?? (await this.#store.getMessage(result.messageId));
          // Neither pending nor stored: it is being rolled back this instant. Retry.
          if (!first) break;
          // Still pending: the first attempt may have died before its job was stored, so
          // make sure a job holds it before acknowledging (persistence is idempotent).
          if (result.pending) {
            if (this.#replication?.enabled) {
              // The first attempt may have stopped before its broadcast (its replica wait
              // failed): announce it now. Clients merge messages by id.
              await this.#replication.accepted(first.room_id);
              this.#events.messageNew(await this.#broadcastView(result.pending));
            }
            await this.#persist.enqueue(result.pending);
            await this.#replication?.enqueued();
          }
          const [view] = await this.#reader.views([first], user.id);
          return { message: view ?? toMessageView(first), created: false };
        }
        case "accepted": {
          messagesAccepted.inc({ transport });
          // With REDIS_WAIT_REPLICAS the accept is on the replicas before anything depends on
          // it: a failover cannot then keep this message's job while losing its seq. Without
          // it, nothing to wait for and nothing awaited (the send path's hot loop).
          const replicas = this.#replication?.enabled ? this.#replication : undefined;
          if (replicas) await replicas.accepted(result.message.room_id);
          // One view serves the broadcast and the sender's answer. Its media is read after the
          // accept: a media pool finishing before this read is seen here, one finishing after
          // it finds this message and announces the change (workers/media.worker.ts).
          const view = await this.#broadcastView(result.message);
          this.#events.messageNew(view);
          const mentioned = result.message.mentions.filter((u) => u !== user.id);
          if (mentioned.length > 0) this.#events.mentionNew?.(mentioned, view);
          await this.#persist.enqueue(result.message);
          if (replicas) await replicas.enqueued();
          return { message: view, created: true };
        }
      }
    }
    throw new AppError("unavailable", "could not accept the message; retry", undefined, 1);
  }

  /**
   * A `system` message telling what just happened in the room: sequenced, broadcast and
   * persisted like any message, without membership checks (the change was checked and made).
   * A new group photo travels with its message (`mediaId`, checked by the caller), so members
   * see it in history and may fetch it (GET /media/:id).
   */
  async postSystem(roomId: string, event: SystemEvent, mediaId?: string): Promise<MessageView> {
    const draft: Unsequenced = {
      id: newId(),
      room_id: roomId,
      sender_id: event.actor_id,
      client_id: `sys-${newId()}`,
      type: "system",
      text: null,
      media_id: mediaId ?? null,
      reply_to_id: null,
      mentions: [],
      system: event,
      created_at: new Date().toISOString(),
    };
    if (mediaId) await this.#media?.link(mediaId, roomId, draft.id);
    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await this.#accept.accept(draft);
      if (result.kind === "counters_missing") {
        await this.#counters.seed(roomId);
        continue;
      }
      if (result.kind !== "accepted") break;
      const view = await this.#broadcastView(result.message);
      this.#events.messageNew(view);
      await this.#persist.enqueue(result.message);
      return view;
    }
    throw new AppError(
      "unavailable",
      "could not record the change in the room's history; retry",
      undefined,
      2,
    );
  }

  /** The text of a text message, or the caption of a media message (null when none). */
  #checkText(input: SendMessageInput): string | null {
    const text = input.text;
    if (input.type === "text") {
      if (input.media_id !== undefined)
        throw new AppError("invalid_request", "a text message has no media_id");
      if (text === undefined || isBlank(text))
        throw new AppError("invalid_request", "text must not be empty");
    } else if (input.media_id === undefined) {
      throw new AppError("invalid_request", `a ${input.type} message needs a media_id`);
    }
    if (text === undefined || isBlank(text)) return null;
    const chars = [...text].length;
    if (chars > this.#config.maxTextChars) {
      throw new AppError("invalid_request", `text is longer than ${this.#config.maxTextChars} characters`, {
        max_chars: this.#config.maxTextChars,
        chars,
      });
    }
    return text;
  }

  /**
   * Checks the media (membership first, so non-members learn nothing about it) and links it to
   * the message before the accept, so the media pool finds every message that may carry it. A
   * link whose accept then fails names no message and is skipped.
   */
  async #attachMedia(user: AuthUser, roomId: string, kind: MediaKind, draft: Unsequenced): Promise<void> {
    if (!this.#media || !draft.media_id)
      throw new AppError("invalid_request", "media messages are not available");
    await this.#members.assertMember(roomId, user.id);
    await this.#media.attachable(user, draft.media_id, kind);
    await this.#media.link(draft.media_id, roomId, draft.id);
  }

  /** A message as the room's broadcast shows it: no viewer's own fields, its media as it is now. */
  async #broadcastView(message: MessageRecord): Promise<MessageView> {
    const media = message.media_id ? (await this.#reader.media([message])).get(message.media_id) : undefined;
    return toMessageView(message, undefined, media ?? null);
  }

  /** A repeat found in the store: the first message again, to a sender who may still see the room. */
  async #replay(
    user: AuthUser,
    roomId: string,
    prior: MessageRecord,
  ): Promise<{ message: MessageView; created: false }> {
    await this.#members.assertMember(roomId, user.id);
    const [view] = await this.#reader.views([prior], user.id);
    return { message: view ?? toMessageView(prior), created: false };
  }

  /** A reply target must be a message of the same room; membership first, so non-members learn nothing. */
  async #assertReplyTarget(user: AuthUser, roomId: string, replyToId: string): Promise<void> {
    await this.#members.assertMember(roomId, user.id);
    const target = await this.#reader.record(replyToId);
    if (!target || target.room_id !== roomId) {
      throw new AppError("invalid_request", "reply_to_id is not a message of this room");
    }
  }

  async history(
    user: AuthUser,
    roomId: string,
    input: HistoryQueryInput,
  ): Promise<{ messages: MessageView[]; has_more: boolean }> {
    await this.#members.assertMember(roomId, user.id);
    return this.#reader.range(
      roomId,
      { beforeSeq: input.before_seq, afterSeq: input.after_seq, limit: input.limit },
      user.id,
    );
  }

  async get(user: AuthUser, messageId: string): Promise<MessageView> {
    const found = await this.#reader.visible(messageId, user.id, (r, u) => this.#members.isMember(r, u));
    if (!found) throw notFound("message");
    return found.view;
  }
}
