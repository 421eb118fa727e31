import type { AuthUser } from "../auth/jwt.ts";
import type { MessageView } from "../contract/views.ts";
import { AppError, notFound } from "../kernel/errors.ts";
import { isBlank } from "../kernel/text.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import type { MembersStore, MessageRecord, MessageStateStore, RoomsStore } from "../store/store.ts";
import type { MessageReader } from "./message.reader.ts";
import { neutral } from "./messages.views.ts";
import type { MessageOpsRepository, UnrevisionedOp } from "./ops.repository.ts";
import type { PersistJobs } from "./persist.queue.ts";

/** Realtime side of message changes; the API implements it with Socket.IO. */
export interface MessageUpdateEvents {
  /** To every socket of the room: the message as anyone sees it (no per-viewer fields). */
  messageUpdated(message: MessageView): void;
  /** To one user's sockets only (a delete for that user). */
  messageUpdatedFor(userId: string, message: MessageView): void;
}

export type MessageOpsConfig = { editWindowS: number; deleteWindowS: number; maxTextChars: number };

/**
 * Edits, deletes and reactions (API.md 12–15). Each is checked here (membership, who may do
 * it, windows), then accepted as a revisioned op in Redis (readable at once through the
 * reader's overlay, whether the message is stored yet or not), answered once its persist
 * job is stored, and announced as `message:updated`. The store applies ops by revision, so
 * the end state never depends on which job runs first (invariant 5).
 */
export class MessageOpsService {
  readonly #store: RoomsStore & MembersStore & Pick<MessageStateStore, "applyMessageOps">;
  readonly #members: MembershipCache;
  readonly #reader: MessageReader;
  readonly #ops: MessageOpsRepository;
  readonly #persist: PersistJobs;
  readonly #events: MessageUpdateEvents;
  readonly #config: MessageOpsConfig;
  readonly #now: () => number;
  readonly #limits: Pick<RateLimits, "consume"> | undefined;

  constructor(deps: {
    store: RoomsStore & MembersStore & Pick<MessageStateStore, "applyMessageOps">;
    members: MembershipCache;
    reader: MessageReader;
    ops: MessageOpsRepository;
    persist: PersistJobs;
    events: MessageUpdateEvents;
    config: MessageOpsConfig;
    /** The clock the windows are measured with (tests move it). */
    now?: () => number;
    limits?: Pick<RateLimits, "consume">;
  }) {
    this.#store = deps.store;
    this.#members = deps.members;
    this.#reader = deps.reader;
    this.#ops = deps.ops;
    this.#persist = deps.persist;
    this.#events = deps.events;
    this.#config = deps.config;
    this.#now = deps.now ?? Date.now;
    this.#limits = deps.limits;
  }

  async edit(user: AuthUser, messageId: string, text: string): Promise<MessageView> {
    const { record, view } = await this.#visible(user, messageId);
    if (record.sender_id !== user.id) throw new AppError("forbidden", "only the sender may edit a message");
    if (record.type !== "text") throw new AppError("forbidden", "only text messages can be edited");
    if (view.deleted) throw new AppError("forbidden", "the message was deleted");
    this.#within(record, this.#config.editWindowS, "edit");
    if (isBlank(text)) throw new AppError("invalid_request", "text must not be empty");
    const chars = [...text].length;
    if (chars > this.#config.maxTextChars) {
      throw new AppError("invalid_request", `text is longer than ${this.#config.maxTextChars} characters`, {
        max_chars: this.#config.maxTextChars,
        chars,
      });
    }
    const updated = await this.#apply(user, record, { kind: "edit", text });
    this.#events.messageUpdated(neutral(updated));
    return updated;
  }

  async delete(user: AuthUser, messageId: string, scope: "me" | "everyone"): Promise<void> {
    const { record, view } = await this.#visible(user, messageId);
    if (scope === "me") {
      const hidden = await this.#apply(user, record, { kind: "hide", user_id: user.id });
      this.#events.messageUpdatedFor(user.id, { ...hidden, deleted: true, text: null, media_id: null });
      return;
    }
    if (view.deleted) return; // already a tombstone: deleting again changes nothing
    if (record.sender_id === user.id) {
      this.#within(record, this.#config.deleteWindowS, "delete");
    } else if (!(await this.#isGroupAdmin(record.room_id, user.id))) {
      throw new AppError(
        "forbidden",
        "only the sender or a group admin may delete this message for everyone",
      );
    }
    const deleted = await this.#apply(user, record, { kind: "delete" });
    this.#events.messageUpdated(neutral(deleted));
  }

  async react(user: AuthUser, messageId: string, emoji: string | null): Promise<MessageView> {
    const { record, view } = await this.#visible(user, messageId);
    if (view.deleted) throw new AppError("forbidden", "the message was deleted");
    if (emoji === null && view.my_reaction === null) return view; // nothing to remove
    const updated = await this.#apply(user, record, { kind: "react", user_id: user.id, emoji });
    this.#events.messageUpdated(neutral(updated));
    return updated;
  }

  /**
   * Stars or unstars for the caller (API.md 31). Written to the store at once as well as
   * through the persist job (applying an op twice changes nothing), so the starred list,
   * which reads the store, shows it as soon as this returns.
   */
  async star(user: AuthUser, messageId: string, starred: boolean): Promise<void> {
    const { record, view } = await this.#visible(user, messageId);
    if (view.starred === starred) return;
    if (starred && view.deleted) throw new AppError("forbidden", "the message was deleted");
    const updated = await this.#apply(user, record, { kind: "star", user_id: user.id, starred });
    this.#events.messageUpdatedFor(user.id, updated);
  }

  /**
   * Who received and read a message (API.md 33), from the members' watermarks: sender only.
   * Members who joined after it was sent are left out (it was history when they came).
   */
  async info(
    user: AuthUser,
    messageId: string,
  ): Promise<{
    delivered: { user_id: string; at: string | null }[];
    read: { user_id: string; at: string | null }[];
    pending: string[];
  }> {
    const { record } = await this.#visible(user, messageId);
    if (record.sender_id !== user.id)
      throw new AppError("forbidden", "only the sender may see a message's info");
    const members = (await this.#store.getMembers(record.room_id)).filter(
      (m) => m.user_id !== record.sender_id && m.joined_at <= record.created_at,
    );
    return {
      delivered: members
        .filter((m) => m.delivered_seq >= record.seq)
        .map((m) => ({ user_id: m.user_id, at: m.delivered_at })),
      read: members
        .filter((m) => m.read_seq >= record.seq)
        .map((m) => ({ user_id: m.user_id, at: m.read_at })),
      pending: members.filter((m) => m.delivered_seq < record.seq).map((m) => m.user_id),
    };
  }

  /** The message, if the caller may see it (member of its room, not hidden for them): else 404. */
  async #visible(user: AuthUser, messageId: string): Promise<{ record: MessageRecord; view: MessageView }> {
    await this.#limits?.consume("message_op", user.id);
    const found = await this.#reader.visible(messageId, user.id, (r, u) => this.#members.isMember(r, u));
    if (!found) throw notFound("message");
    return found;
  }

  #within(record: MessageRecord, windowS: number, what: string): void {
    if (this.#now() - Date.parse(record.created_at) > windowS * 1000) {
      throw new AppError("forbidden", `the ${what} window of ${windowS} s has passed`, { window_s: windowS });
    }
  }

  async #isGroupAdmin(roomId: string, userId: string): Promise<boolean> {
    const [room, member] = await Promise.all([
      this.#store.getRoom(roomId),
      this.#store.getMember(roomId, userId),
    ]);
    return room?.type === "group" && member?.role === "admin";
  }

  /** Accepts the op, waits for its persist job, and returns the message as the caller now sees it. */
  async #apply(
    user: AuthUser,
    record: MessageRecord,
    change:
      | { kind: "edit"; text: string }
      | { kind: "delete" }
      | { kind: "hide"; user_id: string }
      | { kind: "react"; user_id: string; emoji: string | null }
      | { kind: "star"; user_id: string; starred: boolean },
  ): Promise<MessageView> {
    const op = {
      ...change,
      message_id: record.id,
      room_id: record.room_id,
      at: new Date(this.#now()).toISOString(),
    } as UnrevisionedOp;
    const result = await this.#ops.accept(op);
    if (result.kind === "backlog_full") {
      throw new AppError(
        "unavailable",
        "too many changes are waiting to be stored; retry shortly",
        undefined,
        2,
      );
    }
    if (result.op.kind === "star") await this.#store.applyMessageOps([result.op]);
    await this.#persist.enqueueOp(result.op);
    const [view] = await this.#reader.views([record], user.id);
    if (!view) throw notFound("message");
    return view;
  }
}
