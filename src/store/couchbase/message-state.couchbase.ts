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
import {
  type Db,
  foldForSearch,
  keys,
  type MessageStateDoc,
  type UserMessageDoc,
} from "./couchbase.layout.ts";
import { KEYSET_TOP } from "./couchbase.queries.ts";
import type { CouchbaseRooms } from "./rooms.couchbase.ts";

type SharedOp = Exclude<MessageOp, { kind: "star" }>;
type UserOp = Extract<MessageOp, { kind: "hide" | "star" }>;

function emptySharedState(messageId: string, roomId: string): MessageStateDoc {
  return {
    message_id: messageId,
    room_id: roomId,
    edit: null,
    search_text: null,
    deleted: null,
    reactions: {},
    media_rev: 0,
    hidden_by: [],
    rev: 0,
  };
}

/**
 * Merges an op into what every member sees, by revision (MessageOp): the highest edit and each
 * user's highest reaction win, the first delete sticks, media only moves the revision. A hide
 * only records who hid it (search leaves it out for them). Returns whether anything changed.
 */
function applySharedOp(doc: MessageStateDoc, op: SharedOp): boolean {
  let changed = false;
  switch (op.kind) {
    case "edit":
      if (!doc.edit || op.rev > doc.edit.rev) {
        doc.edit = { text: op.text, edited_at: op.at, rev: op.rev };
        doc.search_text = foldForSearch(op.text);
        changed = true;
      }
      break;
    case "delete":
      if (!doc.deleted || op.rev < doc.deleted.rev) {
        doc.deleted = { at: op.at, rev: op.rev };
        changed = true;
      }
      break;
    case "react": {
      const mine = doc.reactions[op.user_id];
      if (!mine || op.rev > mine.rev) {
        doc.reactions[op.user_id] = { emoji: op.emoji, rev: op.rev };
        changed = true;
      }
      break;
    }
    case "media":
      if (op.rev > doc.media_rev) {
        doc.media_rev = op.rev;
        changed = true;
      }
      break;
    case "hide":
      if (!doc.hidden_by.includes(op.user_id)) {
        doc.hidden_by.push(op.user_id);
        changed = true;
      }
      break;
  }
  doc.rev = Math.max(
    doc.edit?.rev ?? 0,
    doc.deleted?.rev ?? 0,
    doc.media_rev,
    ...Object.values(doc.reactions).map((r) => r.rev),
  );
  return changed;
}

/** Merges a user's own mark: the first hide sticks, the highest star wins. */
function applyUserOp(doc: UserMessageDoc, op: UserOp): boolean {
  let changed = false;
  if (op.kind === "hide" && (!doc.hidden || op.rev < doc.hidden.rev)) {
    doc.hidden = { at: op.at, rev: op.rev };
    changed = true;
  }
  if (op.kind === "star" && (!doc.star || op.rev > doc.star.rev)) {
    doc.star = { starred: op.starred, at: op.at, rev: op.rev };
    changed = true;
  }
  doc.rev = Math.max(doc.hidden?.rev ?? 0, doc.star?.rev ?? 0);
  return changed;
}

/** The state of a message as one viewer sees it, from its two documents. */
function viewState(
  message: Pick<MessageRecord, "id" | "rev">,
  shared: MessageStateDoc | null,
  mine: UserMessageDoc | null,
  viewerId: string,
): MessageState {
  const s = initialMessageState(message);
  const bump = (rev: number) => {
    s.rev = Math.max(s.rev, rev);
  };
  if (shared) {
    s.edit = shared.edit;
    s.deleted = shared.deleted;
    for (const r of Object.values(shared.reactions)) {
      if (r.emoji !== null) s.reactions[r.emoji] = (s.reactions[r.emoji] ?? 0) + 1;
    }
    const own = shared.reactions[viewerId];
    s.my_reaction = own?.emoji ?? null;
    s.my_reaction_rev = own?.rev ?? 0;
    bump(shared.rev);
  }
  if (mine) {
    s.hidden = mine.hidden !== null;
    s.starred = mine.star?.starred ?? false;
    s.star_rev = mine.star?.rev ?? 0;
    bump(mine.rev);
  }
  return s;
}

/**
 * MessageStateStore on Couchbase: one document per message for what everyone sees, one per
 * (user, message) for hides and stars. Each op is a CAS merge into its document (commutative
 * and idempotent, so replays and any order of arrival end the same); an op may come before
 * its message's record.
 */
export class CouchbaseMessageState implements MessageStateStore {
  readonly #db: Db;
  readonly #rooms: CouchbaseRooms;
  constructor(db: Db, rooms: CouchbaseRooms) {
    this.#db = db;
    this.#rooms = rooms;
  }

  async applyMessageOps(ops: MessageOp[]): Promise<void> {
    if (ops.length === 0) return;
    const shared = new Map<string, SharedOp[]>();
    const personal = new Map<string, UserOp[]>();
    const revByRoom = new Map<string, number>();
    for (const op of ops) {
      if (op.kind !== "star") shared.set(op.message_id, [...(shared.get(op.message_id) ?? []), op]);
      if (op.kind === "hide" || op.kind === "star") {
        const key = keys.userMessage(op.user_id, op.message_id);
        personal.set(key, [...(personal.get(key) ?? []), op]);
      }
      revByRoom.set(op.room_id, Math.max(revByRoom.get(op.room_id) ?? 0, op.rev));
    }
    await Promise.all([
      ...[...shared].map(([messageId, list]) =>
        this.#db.messageState.update(messageId, (current) => {
          const first = list[0];
          if (!first) return undefined;
          const doc = current ?? emptySharedState(messageId, first.room_id);
          let changed = false;
          for (const op of list) changed = applySharedOp(doc, op) || changed;
          return changed ? doc : undefined;
        }),
      ),
      ...[...personal].map(([key, list]) =>
        this.#db.userMessages.update(key, (current) => {
          const first = list[0];
          if (!first) return undefined;
          const doc = current ?? {
            user_id: first.user_id,
            message_id: first.message_id,
            room_id: first.room_id,
            hidden: null,
            star: null,
            rev: 0,
          };
          let changed = false;
          for (const op of list) changed = applyUserOp(doc, op) || changed;
          return changed ? doc : undefined;
        }),
      ),
    ]);
    // After the state: a room's revision never claims a change that is not stored.
    await Promise.all([...revByRoom].map(([roomId, rev]) => this.#rooms.advanceRev(roomId, rev)));
  }

  async getMessageStates(messages: MessageRecord[], viewerId: string): Promise<Map<string, MessageState>> {
    const ids = messages.map((m) => m.id);
    const [shared, mine] = await Promise.all([
      this.#db.messageState.many(ids),
      this.#db.userMessages.many(ids.map((id) => keys.userMessage(viewerId, id))),
    ]);
    const states = new Map<string, MessageState>();
    for (const m of messages) {
      states.set(
        m.id,
        viewState(m, shared.get(m.id) ?? null, mine.get(keys.userMessage(viewerId, m.id)) ?? null, viewerId),
      );
    }
    return states;
  }

  async getReactions(messageId: string): Promise<ReactionRow[]> {
    const doc = await this.#db.messageState.value(messageId);
    return Object.entries(doc?.reactions ?? {}).map(([user_id, r]) => ({
      user_id,
      emoji: r.emoji,
      rev: r.rev,
    }));
  }

  listStarred(userId: string, limit: number, after?: StarCursor): Promise<StarRow[]> {
    return this.#db.q.rows<StarRow>("starred", {
      user: userId,
      after_at: after?.starred_at ?? KEYSET_TOP,
      after_id: after?.message_id ?? KEYSET_TOP,
      limit,
    });
  }
}
