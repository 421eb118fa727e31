import type { AuthUser } from "../auth/jwt.ts";
import { AppError, notFound } from "../errors.ts";
import { newId } from "../ids.ts";
import { messagesAccepted } from "../observability/metrics.ts";
import type { MembershipCache } from "../rooms/membership.cache.ts";
import type { HistoryQuery, MessageRecord, Store } from "../store/store.ts";
import { isBlank } from "../text.ts";
import type { AcceptRepository, Unsequenced } from "./accept.repository.ts";
import type { HistoryQueryInput, SendMessageInput } from "./messages.schemas.ts";
import { type MessageView, toMessageView } from "./messages.views.ts";
import type { PendingRepository } from "./pending.repository.ts";
import type { PersistProducer } from "./persist.queue.ts";

/** Realtime side of the message path; the API implements it with Socket.IO. */
export interface MessageEvents {
  messageNew(message: MessageView): void;
}

const clientIdTaken = () =>
  new AppError("conflict", "client_id was already used for a message in another room");

export type MessagesConfig = { maxTextChars: number };
export type Transport = "rest" | "socket";

export class MessagesService {
  readonly #store: Store;
  readonly #members: MembershipCache;
  readonly #accept: AcceptRepository;
  readonly #pending: PendingRepository;
  readonly #persist: PersistProducer;
  readonly #events: MessageEvents;
  readonly #config: MessagesConfig;

  constructor(deps: {
    store: Store;
    members: MembershipCache;
    accept: AcceptRepository;
    pending: PendingRepository;
    persist: PersistProducer;
    events: MessageEvents;
    config: MessagesConfig;
  }) {
    this.#store = deps.store;
    this.#members = deps.members;
    this.#accept = deps.accept;
    this.#pending = deps.pending;
    this.#persist = deps.persist;
    this.#events = deps.events;
    this.#config = deps.config;
  }

  /**
   * Accepts a message: checks everything checkable first (so a rollback stays rare), takes a
   * seq and makes it durable in Redis, broadcasts it, and returns once its persist job is
   * stored. A replay of the same (sender, client_id) returns the first message.
   */
  async send(
    user: AuthUser,
    roomId: string,
    input: SendMessageInput,
    transport: Transport,
  ): Promise<{ message: MessageView; created: boolean }> {
    const text = input.text;
    if (isBlank(text)) throw new AppError("invalid_request", "text must not be empty");
    const chars = [...text].length;
    if (chars > this.#config.maxTextChars) {
      throw new AppError("invalid_request", `text is longer than ${this.#config.maxTextChars} characters`, {
        max_chars: this.#config.maxTextChars,
        chars,
      });
    }
    if (input.reply_to_id !== undefined) await this.#assertReplyTarget(user, roomId, input.reply_to_id);
    const mentions = [...new Set(input.mentions ?? [])];
    const draft: Unsequenced = {
      id: newId(),
      room_id: roomId,
      sender_id: user.id,
      client_id: input.client_id,
      type: "text",
      text,
      media_id: null,
      reply_to_id: input.reply_to_id ?? null,
      mentions,
      created_at: new Date().toISOString(),
    };

    // The idempotency key is a cache of the store's unique (sender, client_id): once it is
    // gone (window passed, Redis lost it), the store still knows the first message, and a
    // replay gets that message back instead of a new one the store would refuse later.
    const prior = await this.#store.getMessageByClientId(user.id, input.client_id);
    if (prior) return this.#replay(user, roomId, prior);

    for (let attempt = 0; attempt < 3; attempt++) {
      const result = await this.#accept.accept(draft);
      switch (result.kind) {
        case "membership_unknown":
          // Unknown rooms are not cached (membership.cache.ts), so decide here.
          if (!(await this.#members.load(roomId)).includes(user.id)) throw notFound("room");
          continue;
        case "seq_missing":
          await this.#accept.seedSeq(roomId, () => this.#store.maxSeq(roomId));
          continue;
        case "not_member":
          throw notFound("room");
        case "mention_not_member":
          throw new AppError(
            "invalid_request",
            `mentioned user ${result.userId} is not a member of the room`,
          );
        case "duplicate":
          if (result.message.room_id !== roomId) throw clientIdTaken();
          // Still pending: the first attempt may have died before its job was stored, so
          // make sure a job holds it before acknowledging (persistence is idempotent).
          if (result.pending) await this.#persist.enqueue(result.message);
          return { message: toMessageView(result.message), created: false };
        case "accepted": {
          messagesAccepted.inc({ transport });
          // One view serves the broadcast and the sender's answer.
          const view = toMessageView(result.message);
          this.#events.messageNew(view);
          await this.#persist.enqueue(result.message);
          return { message: view, created: true };
        }
      }
    }
    throw new AppError("unavailable", "could not accept the message; retry");
  }

  /** A replay found in the store: the first message again, to a sender who may still see the room. */
  async #replay(
    user: AuthUser,
    roomId: string,
    prior: MessageRecord,
  ): Promise<{ message: MessageView; created: false }> {
    if (!(await this.#members.isMember(roomId, user.id))) throw notFound("room");
    if (prior.room_id !== roomId) throw clientIdTaken();
    return { message: toMessageView(prior), created: false };
  }

  /** A reply target must be a message of the same room; membership first, so non-members learn nothing. */
  async #assertReplyTarget(user: AuthUser, roomId: string, replyToId: string): Promise<void> {
    if (!(await this.#members.isMember(roomId, user.id))) throw notFound("room");
    const target = (await this.#store.getMessage(replyToId)) ?? (await this.#pending.get(replyToId));
    if (!target || target.room_id !== roomId) {
      throw new AppError("invalid_request", "reply_to_id is not a message of this room");
    }
  }

  async history(
    user: AuthUser,
    roomId: string,
    input: HistoryQueryInput,
  ): Promise<{ messages: MessageView[]; has_more: boolean }> {
    if (!(await this.#members.isMember(roomId, user.id))) throw notFound("room");
    const q: HistoryQuery = {
      beforeSeq: input.before_seq,
      afterSeq: input.after_seq,
      limit: input.limit + 1,
    };
    // Pending first, then the store: a message persisted in between is then seen at least once.
    const pending = await this.#pending.range(roomId, q);
    const stored = await this.#store.listMessages(roomId, q);
    const bySeq = new Map<number, MessageRecord>();
    for (const m of [...pending, ...stored]) bySeq.set(m.seq, m);
    const merged = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    const page = input.after_seq !== undefined ? merged.slice(0, input.limit) : merged.slice(-input.limit);
    return { messages: page.map(toMessageView), has_more: merged.length > input.limit };
  }

  async get(user: AuthUser, messageId: string): Promise<MessageView> {
    const message = (await this.#store.getMessage(messageId)) ?? (await this.#pending.get(messageId));
    if (!message || !(await this.#members.isMember(message.room_id, user.id))) throw notFound("message");
    return toMessageView(message);
  }
}
