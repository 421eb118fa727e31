import type { MediaView, MessageView } from "../contract/views.ts";
import type { MediaViews } from "../media/media.views.ts";
import type { HistoryQuery, MessageRecord, MessageStateStore, MessagesStore } from "../store/store.ts";
import { overlayOps } from "./message-state.ts";
import { toMessageView } from "./messages.views.ts";
import type { PendingRepository } from "./pending.repository.ts";

/**
 * The one reader of messages (history, GET /messages/:id, reply checks, later edit checks and
 * sync): merges what is pending in Redis with the store, and lays pending ops over stored
 * state. Pending is always read before the store: whatever leaves pending in between was
 * stored before it left, so it is seen in one of the two reads.
 */
export class MessageReader {
  readonly #store: MessagesStore & MessageStateStore;
  readonly #pending: PendingRepository;
  readonly #media: MediaViews | undefined;

  constructor(store: MessagesStore & MessageStateStore, pending: PendingRepository, media?: MediaViews) {
    this.#store = store;
    this.#pending = pending;
    this.#media = media;
  }

  /** The immutable record, pending or stored. */
  async record(messageId: string): Promise<MessageRecord | null> {
    return (await this.#pending.get(messageId)) ?? (await this.#store.getMessage(messageId));
  }

  /**
   * The message as `viewerId` sees it, with its record, or null when they may not see it: not
   * a member of its room (`isMember` is the membership check), or they deleted it for themselves.
   */
  async visible(
    messageId: string,
    viewerId: string,
    isMember: (roomId: string, userId: string) => Promise<boolean>,
  ): Promise<{ record: MessageRecord; view: MessageView } | null> {
    const record = await this.record(messageId);
    if (!record || !(await isMember(record.room_id, viewerId))) return null;
    const [view] = await this.views([record], viewerId, true);
    return view ? { record, view } : null;
  }

  async get(messageId: string, viewerId: string): Promise<MessageView | null> {
    const record = await this.record(messageId);
    if (!record) return null;
    const [view] = await this.views([record], viewerId);
    return view ?? null;
  }

  /** Ascending by seq, the same window the store pages by; messages the viewer hid are left out. */
  async range(
    roomId: string,
    q: HistoryQuery,
    viewerId: string,
  ): Promise<{ messages: MessageView[]; has_more: boolean }> {
    const ask: HistoryQuery = { ...q, limit: q.limit + 1 };
    const pending = await this.#pending.range(roomId, ask);
    const stored = await this.#store.listMessages(roomId, ask);
    const bySeq = new Map<number, MessageRecord>();
    for (const m of [...pending, ...stored]) bySeq.set(m.seq, m);
    const merged = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
    const page = q.afterSeq !== undefined ? merged.slice(0, q.limit) : merged.slice(-q.limit);
    const views = await this.views(page, viewerId, true);
    return { messages: views, has_more: merged.length > q.limit };
  }

  /** Records to views as `viewerId` sees them: stored state, then pending ops on top. */
  async views(records: MessageRecord[], viewerId: string, dropHidden = false): Promise<MessageView[]> {
    return this.#views(records, viewerId, dropHidden ? "drop" : "keep");
  }

  /** As `views`, but a message the viewer hid comes as a tombstone (sync tells their devices to drop it). */
  async syncViews(records: MessageRecord[], viewerId: string): Promise<MessageView[]> {
    return this.#views(records, viewerId, "tombstone");
  }

  async #views(
    records: MessageRecord[],
    viewerId: string,
    hidden: "keep" | "drop" | "tombstone",
  ): Promise<MessageView[]> {
    if (records.length === 0) return [];
    // Each message's own pending ops: the room's other pending work is never read.
    const pendingOps = await this.#pending.opsOf(records);
    const states = await this.#store.getMessageStates(records, viewerId);
    const media = await this.media(records);
    const out: MessageView[] = [];
    for (const m of records) {
      let state = states.get(m.id);
      const ops = pendingOps.get(m.id) ?? [];
      if (state && ops.length > 0) {
        const rows = ops.some((op) => op.kind === "react") ? await this.#store.getReactions(m.id) : [];
        state = overlayOps(state, ops, viewerId, rows);
      }
      if (hidden === "drop" && state?.hidden) continue;
      const view = toMessageView(m, state, m.media_id ? (media.get(m.media_id) ?? null) : null);
      out.push(
        hidden === "tombstone" && state?.hidden
          ? {
              ...view,
              deleted: true,
              text: null,
              media_id: null,
              media: null,
              reactions: {},
              my_reaction: null,
            }
          : view,
      );
    }
    return out;
  }

  /** The media the records carry, by id (a deleted media is absent). */
  async media(records: MessageRecord[]): Promise<Map<string, MediaView>> {
    const ids = records.flatMap((m) => (m.media_id ? [m.media_id] : []));
    return this.#media && ids.length > 0 ? this.#media.forIds(ids) : new Map();
  }
}
