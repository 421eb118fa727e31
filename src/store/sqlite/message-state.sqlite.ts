import {
  initialMessageState,
  type MessageOp,
  type MessageRecord,
  type MessageState,
  type MessageStateStore,
  type ReactionRow,
  type StarCursor,
  type StarRow,
} from "../store.ts";
import type { SqliteDb } from "./db.ts";
import { num, type Row, str, strOrNull } from "./rows.ts";

/**
 * MessageStateStore on SQLite: one table per kind of state, keyed by message (and user), no
 * foreign key to messages so an op can land first. Each upsert keeps the row with the higher
 * rev (edits, reactions, stars) or the first one (deletes, hides stick), so replays and any
 * order of arrival end in the same state.
 */
export class SqliteMessageState implements MessageStateStore {
  readonly #db: SqliteDb;
  constructor(db: SqliteDb) {
    this.#db = db;
  }

  async applyMessageOps(ops: MessageOp[]): Promise<void> {
    if (ops.length === 0) return;
    const db = this.#db;
    await db.write(() => {
      const edit = db.stmt(
        `INSERT INTO message_edits (message_id, room_id, rev, text, edited_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (message_id) DO UPDATE SET rev = excluded.rev, text = excluded.text, edited_at = excluded.edited_at
         WHERE excluded.rev > message_edits.rev`,
      );
      const del = db.stmt(
        `INSERT INTO message_deletes (message_id, room_id, rev, deleted_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (message_id) DO UPDATE SET rev = excluded.rev, deleted_at = excluded.deleted_at
         WHERE excluded.rev < message_deletes.rev`,
      );
      const react = db.stmt(
        `INSERT INTO message_reactions (message_id, user_id, room_id, rev, emoji) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (message_id, user_id) DO UPDATE SET rev = excluded.rev, emoji = excluded.emoji
         WHERE excluded.rev > message_reactions.rev`,
      );
      const hide = db.stmt(
        `INSERT INTO message_hides (message_id, user_id, room_id, rev, hidden_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (message_id, user_id) DO UPDATE SET rev = excluded.rev, hidden_at = excluded.hidden_at
         WHERE excluded.rev < message_hides.rev`,
      );
      const star = db.stmt(
        `INSERT INTO message_stars (message_id, user_id, room_id, rev, starred, starred_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (message_id, user_id) DO UPDATE SET rev = excluded.rev, starred = excluded.starred,
           starred_at = excluded.starred_at
         WHERE excluded.rev > message_stars.rev`,
      );
      const media = db.stmt(
        `INSERT INTO message_media (message_id, room_id, rev) VALUES (?, ?, ?)
         ON CONFLICT (message_id) DO UPDATE SET rev = max(rev, excluded.rev)`,
      );
      const advanceRev = db.stmt("UPDATE rooms SET rev = max(rev, ?) WHERE id = ?");
      // The search index follows the current text: re-index after an edit that won, drop after a delete.
      const unindex = db.stmt(
        "DELETE FROM messages_fts WHERE rowid = (SELECT rowid FROM messages WHERE id = ?)",
      );
      const reindex = db.stmt(
        `INSERT INTO messages_fts (rowid, text)
         SELECT m.rowid, e.text FROM messages m JOIN message_edits e ON e.message_id = m.id
         WHERE m.id = ?1 AND e.rev = ?2 AND NOT EXISTS (SELECT 1 FROM message_deletes d WHERE d.message_id = m.id)`,
      );

      const revByRoom = new Map<string, number>();
      for (const op of ops) {
        switch (op.kind) {
          case "edit":
            if (Number(edit.run(op.message_id, op.room_id, op.rev, op.text, op.at).changes) > 0) {
              unindex.run(op.message_id);
              reindex.run(op.message_id, op.rev);
            }
            break;
          case "delete":
            del.run(op.message_id, op.room_id, op.rev, op.at);
            unindex.run(op.message_id);
            break;
          case "react":
            react.run(op.message_id, op.user_id, op.room_id, op.rev, op.emoji);
            break;
          case "hide":
            hide.run(op.message_id, op.user_id, op.room_id, op.rev, op.at);
            break;
          case "star":
            star.run(op.message_id, op.user_id, op.room_id, op.rev, op.starred ? 1 : 0, op.at);
            break;
          case "media":
            media.run(op.message_id, op.room_id, op.rev);
            break;
        }
        revByRoom.set(op.room_id, Math.max(revByRoom.get(op.room_id) ?? 0, op.rev));
      }
      for (const [room, rev] of revByRoom) advanceRev.run(rev, room);
    });
  }

  async getMessageStates(messages: MessageRecord[], viewerId: string): Promise<Map<string, MessageState>> {
    const states = new Map<string, MessageState>();
    for (const m of messages) states.set(m.id, initialMessageState(m));
    if (messages.length === 0) return states;
    const ids = JSON.stringify(messages.map((m) => m.id));
    const db = this.#db;
    const IN = "message_id IN (SELECT value FROM json_each(?))";
    const [edits, deletes, counts, mine, hides, stars, medias] = await db.read(() => [
      db.stmt(`SELECT message_id, rev, text, edited_at FROM message_edits WHERE ${IN}`).all(ids),
      db.stmt(`SELECT message_id, rev, deleted_at FROM message_deletes WHERE ${IN}`).all(ids),
      db
        .stmt(
          `SELECT message_id, emoji, count(emoji) AS n, max(rev) AS rev FROM message_reactions WHERE ${IN}
           GROUP BY message_id, emoji`,
        )
        .all(ids),
      db
        .stmt(`SELECT message_id, emoji, rev FROM message_reactions WHERE ${IN} AND user_id = ?`)
        .all(ids, viewerId),
      db.stmt(`SELECT message_id, rev FROM message_hides WHERE ${IN} AND user_id = ?`).all(ids, viewerId),
      db
        .stmt(`SELECT message_id, rev, starred FROM message_stars WHERE ${IN} AND user_id = ?`)
        .all(ids, viewerId),
      db.stmt(`SELECT message_id, rev FROM message_media WHERE ${IN}`).all(ids),
    ]);
    const at = (row: Row) => states.get(str(row.message_id));
    const bump = (s: MessageState, rev: unknown) => {
      s.rev = Math.max(s.rev, num(rev));
    };
    for (const r of edits) {
      const s = at(r);
      if (!s) continue;
      s.edit = { text: str(r.text), edited_at: str(r.edited_at), rev: num(r.rev) };
      bump(s, r.rev);
    }
    for (const r of deletes) {
      const s = at(r);
      if (!s) continue;
      s.deleted = { at: str(r.deleted_at), rev: num(r.rev) };
      bump(s, r.rev);
    }
    for (const r of counts) {
      const s = at(r);
      if (!s) continue;
      const emoji = strOrNull(r.emoji);
      if (emoji !== null && num(r.n) > 0) s.reactions[emoji] = num(r.n);
      bump(s, r.rev); // a removed reaction is a change too
    }
    for (const r of mine) {
      const s = at(r);
      if (!s) continue;
      s.my_reaction = strOrNull(r.emoji);
      s.my_reaction_rev = num(r.rev);
    }
    for (const r of hides) {
      const s = at(r);
      if (!s) continue;
      s.hidden = true;
      bump(s, r.rev);
    }
    for (const r of stars) {
      const s = at(r);
      if (!s) continue;
      s.starred = num(r.starred) === 1;
      s.star_rev = num(r.rev);
      bump(s, r.rev);
    }
    for (const r of medias) {
      const s = at(r);
      if (s) bump(s, r.rev);
    }
    return states;
  }

  async listStarred(userId: string, limit: number, after?: StarCursor): Promise<StarRow[]> {
    const rows = await this.#db.read(() =>
      after
        ? this.#db
            .stmt(
              `SELECT message_id, room_id, starred_at FROM message_stars
               WHERE user_id = ? AND starred = 1 AND (starred_at, message_id) < (?, ?)
               ORDER BY starred_at DESC, message_id DESC LIMIT ?`,
            )
            .all(userId, after.starred_at, after.message_id, limit)
        : this.#db
            .stmt(
              `SELECT message_id, room_id, starred_at FROM message_stars WHERE user_id = ? AND starred = 1
               ORDER BY starred_at DESC, message_id DESC LIMIT ?`,
            )
            .all(userId, limit),
    );
    return rows.map((r) => ({
      message_id: str(r.message_id),
      room_id: str(r.room_id),
      starred_at: str(r.starred_at),
    }));
  }

  async getReactions(messageId: string): Promise<ReactionRow[]> {
    const rows = await this.#db.read(() =>
      this.#db.stmt("SELECT user_id, emoji, rev FROM message_reactions WHERE message_id = ?").all(messageId),
    );
    return rows.map((r) => ({ user_id: str(r.user_id), emoji: strOrNull(r.emoji), rev: num(r.rev) }));
  }
}
