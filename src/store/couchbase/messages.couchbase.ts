import type { HistoryQuery, InsertResult, MessageRecord, MessagesStore } from "../store.ts";
import { type Db, foldForSearch, keys, type MessageDoc } from "./couchbase.layout.ts";
import type { CouchbaseRooms } from "./rooms.couchbase.ts";

/** The record without the adapter's own fields. */
export function messageRecord(doc: MessageDoc): MessageRecord {
  const { search_text: _folded, ...record } = doc;
  return record;
}

/**
 * MessagesStore on Couchbase. A message is stored in three insert-if-absent writes: its seq
 * and its (room, sender, client_id) are claimed by lookup documents (so neither can ever name
 * two messages), then the record itself. A replay finds its own claims and record and changes
 * nothing; a message whose seq or client id another message holds is rejected and its claims
 * released. Rooms and the sender's read watermark then move forward, never backwards, so a
 * replay after a crash between the writes completes what was missed.
 */
export class CouchbaseMessages implements MessagesStore {
  readonly #db: Db;
  readonly #rooms: CouchbaseRooms;
  constructor(db: Db, rooms: CouchbaseRooms) {
    this.#db = db;
    this.#rooms = rooms;
  }

  /** Claims a lookup key for a message: true if it holds it now (a replay included). */
  async #claim(key: string, messageId: string): Promise<boolean> {
    if (await this.#db.messageKeys.insert(key, { message_id: messageId })) return true;
    const holder = await this.#db.messageKeys.value(key);
    // Gone meanwhile (a rejected message released it): claim again.
    if (!holder) return this.#claim(key, messageId);
    return holder.message_id === messageId;
  }

  async #release(key: string, messageId: string): Promise<void> {
    await this.#db.messageKeys.removeIf(key, (holder) => holder.message_id === messageId);
  }

  async #insertOne(m: MessageRecord): Promise<string | null> {
    const seqKey = keys.seq(m.room_id, m.seq);
    if (!(await this.#claim(seqKey, m.id))) return `seq ${m.seq} is another message's`;
    const cidKey = keys.clientId(m.room_id, m.sender_id, m.client_id);
    if (!(await this.#claim(cidKey, m.id))) {
      await this.#release(seqKey, m.id);
      return "client_id is another message's";
    }
    const folded = m.type === "system" || m.text === null ? null : foldForSearch(m.text);
    await this.#db.messages.insert(m.id, { ...m, search_text: folded });
    return null;
  }

  async insertMessages(messages: MessageRecord[]): Promise<InsertResult> {
    const rejected: InsertResult["rejected"] = [];
    if (messages.length === 0) return { rejected };
    const roomIds = [...new Set(messages.map((m) => m.room_id))];
    const rooms = await this.#db.rooms.many(roomIds);
    const stored: MessageRecord[] = [];
    await Promise.all(
      messages.map(async (m) => {
        if (!rooms.has(m.room_id)) {
          rejected.push({ message: m, reason: "room does not exist" });
          return;
        }
        const reason = await this.#insertOne(m);
        if (reason) rejected.push({ message: m, reason });
        else stored.push(m);
      }),
    );
    // One room write per batch, then one reader write per sender with the room it returned
    // (no second read of the room document).
    const newest = new Map<string, { message: MessageRecord; rev: number }>();
    const readers = new Map<string, Map<string, MessageRecord>>();
    for (const m of stored) {
      const n = newest.get(m.room_id);
      if (!n || n.message.seq < m.seq)
        newest.set(m.room_id, { message: m, rev: Math.max(n?.rev ?? 0, m.rev) });
      else n.rev = Math.max(n.rev, m.rev);
      const senders = readers.get(m.room_id) ?? new Map<string, MessageRecord>();
      readers.set(m.room_id, senders);
      const r = senders.get(m.sender_id);
      if (!r || r.seq < m.seq) senders.set(m.sender_id, m);
    }
    await Promise.all(
      [...newest].map(async ([roomId, n]) => {
        const room = await this.#rooms.advanceRoom(roomId, n.message, n.rev);
        if (!room) return;
        await Promise.all(
          [...(readers.get(roomId)?.values() ?? [])].map((m) =>
            this.#rooms.advanceReader(room, m.sender_id, m.seq, m.created_at),
          ),
        );
      }),
    );
    return { rejected };
  }

  async getMessage(messageId: string): Promise<MessageRecord | null> {
    const doc = await this.#db.messages.value(messageId);
    return doc ? messageRecord(doc) : null;
  }

  async getMessages(messageIds: string[]): Promise<MessageRecord[]> {
    return [...(await this.#db.messages.many(messageIds)).values()].map(messageRecord);
  }

  async recordRollbacks(items: { message: MessageRecord; rev: number; at: string }[]): Promise<void> {
    await Promise.all(
      items.map(({ message, rev, at }) =>
        this.#db.rollbacks.insert(message.id, {
          message_id: message.id,
          room_id: message.room_id,
          rev,
          record: message,
          at,
        }),
      ),
    );
  }

  async getRolledBack(messageIds: string[]): Promise<MessageRecord[]> {
    return [...(await this.#db.rollbacks.many(messageIds)).values()].map((r) => r.record);
  }

  async getMessageByClientId(
    roomId: string,
    senderId: string,
    clientId: string,
  ): Promise<MessageRecord | null> {
    const claim = await this.#db.messageKeys.value(keys.clientId(roomId, senderId, clientId));
    return claim ? this.getMessage(claim.message_id) : null;
  }

  async listMessages(roomId: string, q: HistoryQuery): Promise<MessageRecord[]> {
    const before = q.beforeSeq ?? Number.MAX_SAFE_INTEGER;
    if (q.afterSeq !== undefined) {
      const docs = await this.#db.q.rows<MessageDoc>("messagesAfter", {
        room: roomId,
        after: q.afterSeq,
        before,
        limit: q.limit,
      });
      return docs.map(messageRecord);
    }
    const docs = await this.#db.q.rows<MessageDoc>("messagesBefore", {
      room: roomId,
      before,
      limit: q.limit,
    });
    return docs.map(messageRecord).reverse();
  }

  async roomCounters(roomId: string): Promise<{ seq: number; rev: number }> {
    // The room document may lag its messages and ops by a crash between writes: take the
    // highest of everything stored.
    const [room, [maxima]] = await Promise.all([
      this.#db.rooms.value(roomId),
      this.#db.q.rows<{ seq: number | null; message_rev: number | null; state_rev: number | null }>(
        "roomMaxima",
        { room: roomId },
      ),
    ]);
    return {
      seq: Math.max(room?.last_seq ?? 0, maxima?.seq ?? 0),
      rev: Math.max(room?.rev ?? 0, maxima?.message_rev ?? 0, maxima?.state_rev ?? 0),
    };
  }

  async uncountedSeqsAfter(after: { room_id: string; seq: number }[]): Promise<Map<string, number[]>> {
    const seqs = new Map<string, number[]>();
    if (after.length === 0) return seqs;
    const from = new Map(after.map((a) => [a.room_id, a.seq]));
    const rooms = [...from.keys()];
    const [system, rolledBack] = await Promise.all([
      this.#db.q.rows<{ room_id: string; seq: number }>("systemSeqs", { rooms }),
      this.#db.q.rows<{ room_id: string; seq: number }>("rolledBackSeqs", { rooms }),
    ]);
    for (const r of [...system, ...rolledBack]) {
      if (r.seq <= (from.get(r.room_id) ?? Number.MAX_SAFE_INTEGER)) continue;
      seqs.set(r.room_id, [...(seqs.get(r.room_id) ?? []), r.seq]);
    }
    for (const list of seqs.values()) list.sort((a, b) => a - b);
    return seqs;
  }
}
