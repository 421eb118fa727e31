import {
  type HistoryQuery,
  type InsertResult,
  type MessageRecord,
  type MessagesStore,
  StoreRejectedError,
} from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { MESSAGE_COLUMNS, messageFromRow, num } from "./rows.ts";

/**
 * MessagesStore on SQLite. A batch is written in one transaction for speed, each message in
 * its own savepoint, so a message the store refuses is undone alone (atomic per message, as
 * the port promises) and the rest of the batch is kept.
 */
export class SqliteMessages implements MessagesStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  async insertMessages(messages: MessageRecord[]): Promise<InsertResult> {
    if (messages.length === 0) return { rejected: [] };
    const db = this.#db;
    return db.write(() => {
      const insert = db.stmt(
        `INSERT INTO messages (${MESSAGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO NOTHING`,
      );
      const advanceRoom = db.stmt(
        `UPDATE rooms SET last_seq = ?, last_message_id = ?, last_activity_at = max(last_activity_at, ?)
         WHERE id = ? AND last_seq < ?`,
      );
      const advanceRev = db.stmt("UPDATE rooms SET rev = max(rev, ?) WHERE id = ?");
      // Sending implies reading (and delivery) up to one's own message.
      const advanceReader = db.stmt(
        `UPDATE members SET read_seq = ?1, read_at = ?5, delivered_seq = max(delivered_seq, ?1),
           delivered_at = CASE WHEN delivered_seq < ?1 THEN ?5 ELSE delivered_at END
         WHERE room_id = ?2 AND user_id = ?3 AND read_seq < ?4`,
      );
      const roomExists = db.stmt("SELECT 1 AS ok FROM rooms WHERE id = ?");
      // The search index takes the current text: an edit or delete may have landed first.
      const index = db.stmt(
        `INSERT INTO messages_fts (rowid, text)
         SELECT m.rowid, coalesce(e.text, m.text) FROM messages m LEFT JOIN message_edits e ON e.message_id = m.id
         WHERE m.id = ? AND m.text IS NOT NULL AND m.type <> 'system'
           AND NOT EXISTS (SELECT 1 FROM message_deletes d WHERE d.message_id = m.id)`,
      );

      const rejected: InsertResult["rejected"] = [];
      // One room and one reader update per batch, not per message.
      const newestByRoom = new Map<string, MessageRecord>();
      const readerSeq = new Map<string, { room: string; user: string; seq: number; at: string }>();
      for (const m of messages) {
        if (!roomExists.get(m.room_id)) {
          rejected.push({ message: m, reason: "room does not exist" });
          continue;
        }
        let changes: number;
        try {
          changes = db.savepoint(() =>
            Number(
              insert.run(
                m.id,
                m.room_id,
                m.seq,
                m.rev,
                m.sender_id,
                m.client_id,
                m.type,
                m.text,
                m.media_id,
                m.reply_to_id,
                JSON.stringify(m.mentions),
                m.system === null ? null : JSON.stringify(m.system),
                m.forwarded ? JSON.stringify(m.forwarded) : null,
                m.created_at,
              ).changes,
            ),
          );
        } catch (err) {
          if (!(err instanceof StoreRejectedError)) throw err;
          rejected.push({ message: m, reason: err.message });
          continue;
        }
        if (changes === 0) continue;
        index.run(m.id);
        const newest = newestByRoom.get(m.room_id);
        if (!newest || newest.seq < m.seq) newestByRoom.set(m.room_id, m);
        const key = `${m.room_id}|${m.sender_id}`;
        if ((readerSeq.get(key)?.seq ?? 0) < m.seq)
          readerSeq.set(key, { room: m.room_id, user: m.sender_id, seq: m.seq, at: m.created_at });
      }
      for (const m of newestByRoom.values()) {
        advanceRoom.run(m.seq, m.id, m.created_at, m.room_id, m.seq);
        advanceRev.run(m.rev, m.room_id);
      }
      for (const r of readerSeq.values()) advanceReader.run(r.seq, r.room, r.user, r.seq, r.at);
      return { rejected };
    });
  }

  async getMessage(messageId: string): Promise<MessageRecord | null> {
    const row = await this.#db.read(() =>
      this.#db.stmt(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id = ?`).get(messageId),
    );
    return row ? messageFromRow(row) : null;
  }

  async getMessages(messageIds: string[]): Promise<MessageRecord[]> {
    if (messageIds.length === 0) return [];
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE id IN (SELECT value FROM json_each(?))`)
        .all(JSON.stringify(messageIds)),
    );
    return rows.map(messageFromRow);
  }

  async recordRollbacks(items: { message: MessageRecord; rev: number; at: string }[]): Promise<void> {
    if (items.length === 0) return;
    await this.#db.write(() => {
      const insert = this.#db.stmt(
        `INSERT INTO message_rollbacks (message_id, room_id, rev, record, rolled_back_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT DO NOTHING`,
      );
      for (const { message, rev, at } of items)
        insert.run(message.id, message.room_id, rev, JSON.stringify(message), at);
    });
  }

  async getRolledBack(messageIds: string[]): Promise<MessageRecord[]> {
    if (messageIds.length === 0) return [];
    const rows = await this.#db.read(() =>
      this.#db
        .stmt("SELECT record FROM message_rollbacks WHERE message_id IN (SELECT value FROM json_each(?))")
        .all(JSON.stringify(messageIds)),
    );
    return rows.map((r) => JSON.parse(String(r.record)) as MessageRecord);
  }

  async getMessageByClientId(
    roomId: string,
    senderId: string,
    clientId: string,
  ): Promise<MessageRecord | null> {
    const row = await this.#db.read(() =>
      this.#db
        .stmt(`SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND sender_id = ? AND client_id = ?`)
        .get(roomId, senderId, clientId),
    );
    return row ? messageFromRow(row) : null;
  }

  async listMessages(roomId: string, q: HistoryQuery): Promise<MessageRecord[]> {
    if (q.afterSeq !== undefined) {
      const upper = q.beforeSeq ?? Number.MAX_SAFE_INTEGER;
      const after = q.afterSeq;
      const rows = await this.#db.read(() =>
        this.#db
          .stmt(
            `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq > ? AND seq < ? ORDER BY seq ASC LIMIT ?`,
          )
          .all(roomId, after, upper, q.limit),
      );
      return rows.map(messageFromRow);
    }
    const before = q.beforeSeq ?? Number.MAX_SAFE_INTEGER;
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`,
        )
        .all(roomId, before, q.limit),
    );
    return rows.map(messageFromRow).reverse();
  }

  async uncountedSeqsAfter(after: { room_id: string; seq: number }[]): Promise<Map<string, number[]>> {
    const seqs = new Map<string, number[]>();
    if (after.length === 0) return seqs;
    const rows = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT a.room_id AS room_id, m.seq AS seq
           FROM (SELECT json_extract(value, '$.room_id') AS room_id, json_extract(value, '$.seq') AS seq
                 FROM json_each(?1)) a
           JOIN messages m ON m.room_id = a.room_id AND m.type = 'system' AND m.seq > a.seq
           UNION ALL
           SELECT a.room_id, json_extract(b.record, '$.seq')
           FROM (SELECT json_extract(value, '$.room_id') AS room_id, json_extract(value, '$.seq') AS seq
                 FROM json_each(?1)) a
           JOIN message_rollbacks b ON b.room_id = a.room_id AND json_extract(b.record, '$.seq') > a.seq`,
        )
        .all(JSON.stringify(after)),
    );
    for (const r of rows) {
      const room = String(r.room_id);
      seqs.set(room, [...(seqs.get(room) ?? []), num(r.seq)]);
    }
    return seqs;
  }

  async roomCounters(roomId: string): Promise<{ seq: number; rev: number }> {
    // The room row's rev covers messages and ops; max(seq) also counts messages whose room
    // row is behind (none today, but it costs one index probe).
    const row = await this.#db.read(() =>
      this.#db
        .stmt(
          `SELECT (SELECT max(seq) FROM messages WHERE room_id = ?1) AS seq,
                  max(coalesce((SELECT rev FROM rooms WHERE id = ?1), 0),
                      coalesce((SELECT max(rev) FROM messages WHERE room_id = ?1), 0)) AS rev`,
        )
        .get(roomId),
    );
    return { seq: num(row?.seq ?? 0), rev: num(row?.rev ?? 0) };
  }
}
