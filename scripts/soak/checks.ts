/**
 * The soak's verdict: every invariant of docs/api.md and docs/architecture.md checked from the
 * outside once the system has drained, against what the clients were told (the Ledger), the
 * SQLite file (read-only) and both API processes' answers. One CheckResult per invariant, with
 * every violation counted and the first ones spelled out (ids, seqs, revs).
 */
import { DatabaseSync, type SQLOutputValue } from "node:sqlite";
import { z } from "zod";
import { signToken } from "../../src/auth/jwt.ts";
import type { CheckResult, Fault, Ledger, OpRecord, SendRecord } from "./ledger.ts";
import type { DrainResult, PushRecord, SoakSystem } from "./system.ts";

/** What the checks read of the system (a SoakSystem has it all). */
export type CheckedSystem = Pick<SoakSystem, "apis" | "dbPath" | "jwtSecret" | "faults" | "crashes"> & {
  pushes(): Pick<PushRecord, "user_id" | "device_id" | "message_id" | "type" | "at">[];
  downWindows(): { from: number; to: number; target: string }[];
};

/** The drain's outcome as the caller measured it (system.ts `drain`). */
export type Drain = Pick<DrainResult, "drained" | "pendingMessages" | "pendingOps" | "jobs"> &
  Partial<Pick<DrainResult, "failedJobs">>;

/** A CheckResult with every violation counted (the list is capped) and notes on what was allowed or skipped. */
export type CheckReport = CheckResult & { violationCount: number; notes: string[] };

/** Violation lines kept per check; the rest are counted. */
const CAP = 50;
/**
 * Two ops on one field whose answers came less than this apart may have been accepted in either
 * order: the ledger has when an op ended, not when the server took its revision, and one
 * request lasts at most the workload's time-out (workload.ts REQUEST_TIMEOUT_MS, 10 s), so only
 * an op that ended more than this before another one ended surely took its revision first.
 */
const RACE_MS = 10_000;
/** "network" outcomes are allowed this long around an API's down window. */
const NETWORK_MARGIN_MS = 5000;
/** A notify kill this close before the first of two pushes still counts as between them (clocks, log delay). */
const PUSH_MARGIN_MS = 1000;
/** Parallel requests per check. */
const CONCURRENCY = 8;
/** A replay longer than this many pages is a loop. */
const MAX_PAGES = 20_000;

class Verdict {
  readonly name: string;
  checked = 0;
  readonly notes: string[] = [];
  readonly #lines: string[] = [];
  #count = 0;

  constructor(name: string) {
    this.name = name;
  }

  fail(line: string): void {
    this.#count++;
    if (this.#lines.length < CAP) this.#lines.push(line);
  }

  result(): CheckReport {
    const violations =
      this.#count > CAP
        ? [...this.#lines, `... and ${this.#count - CAP} more (${this.#count} in all)`]
        : this.#lines;
    return {
      name: this.name,
      checked: this.checked,
      violations,
      violationCount: this.#count,
      notes: this.notes,
    };
  }
}

// ---------------------------------------------------------------------------------------------
// The store, read once (before any API call: a sync replay prunes the cursors it starts from).

type StoredMessage = {
  id: string;
  room_id: string;
  seq: number;
  rev: number;
  sender_id: string;
  client_id: string;
  type: string;
  text: string | null;
  created_at: string;
  forwarded: { original_message_id: string } | null;
};

type Member = { read_seq: number; joined_rev: number; muted_until: string | null };

type Snapshot = {
  messages: Map<string, StoredMessage>;
  /** Per room, by seq. */
  byRoom: Map<string, StoredMessage[]>;
  /** `room|sender|client_id` → rows (the unique index makes it one at most). */
  byKey: Map<string, StoredMessage[]>;
  edits: Map<string, { rev: number; text: string }>;
  deletes: Map<string, number>;
  /** message → user → reaction (emoji null: removed). */
  reactions: Map<string, Map<string, { emoji: string | null; rev: number }>>;
  /** message → user → rev. */
  hides: Map<string, Map<string, number>>;
  stars: Map<string, Map<string, { starred: boolean; rev: number }>>;
  media: Map<string, number>;
  /** Refused by the store for good: the record as accepted, and its tombstone's rev. */
  rollbacks: Map<string, { record: StoredMessage; rev: number }>;
  rooms: Map<string, { type: string; last_seq: number; rev: number }>;
  /** room → user → member row. */
  members: Map<string, Map<string, Member>>;
  /** sync cursor id → per-room revisions it stands for (messages cursors only). */
  cursors: Map<string, Record<string, number>>;
};

const str = (v: SQLOutputValue | undefined): string => (typeof v === "string" ? v : String(v ?? ""));
const strOrNull = (v: SQLOutputValue | undefined): string | null =>
  v === null || v === undefined ? null : str(v);
const num = (v: SQLOutputValue | undefined): number =>
  typeof v === "number" || typeof v === "bigint" ? Number(v) : 0;

const forwardedSchema = z.object({ original_message_id: z.string() });
const recordSchema = z.object({
  id: z.string(),
  room_id: z.string(),
  seq: z.number(),
  rev: z.number(),
  sender_id: z.string(),
  client_id: z.string(),
  type: z.string(),
  text: z.string().nullable(),
  created_at: z.string(),
});
const cursorStateSchema = z.record(z.string(), z.number());

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function nested<V>(map: Map<string, Map<string, V>>, a: string): Map<string, V> {
  let inner = map.get(a);
  if (!inner) {
    inner = new Map();
    map.set(a, inner);
  }
  return inner;
}

function push<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

const keyOf = (room: string, sender: string, clientId: string) => `${room}|${sender}|${clientId}`;

function readSnapshot(dbPath: string, cursorIds: string[]): Snapshot {
  // Read-only, beside the running processes (WAL: readers never wait for the writer).
  const db = new DatabaseSync(dbPath, { readOnly: true });
  try {
    const all = (sql: string, ...params: string[]) => db.prepare(sql).all(...params);
    db.exec("BEGIN"); // one consistent read of every table
    const s: Snapshot = {
      messages: new Map(),
      byRoom: new Map(),
      byKey: new Map(),
      edits: new Map(),
      deletes: new Map(),
      reactions: new Map(),
      hides: new Map(),
      stars: new Map(),
      media: new Map(),
      rollbacks: new Map(),
      rooms: new Map(),
      members: new Map(),
      cursors: new Map(),
    };
    for (const r of all(
      "SELECT id, room_id, seq, rev, sender_id, client_id, type, text, created_at, forwarded FROM messages",
    )) {
      const fwd = forwardedSchema.safeParse(parseJson(strOrNull(r.forwarded)));
      const m: StoredMessage = {
        id: str(r.id),
        room_id: str(r.room_id),
        seq: num(r.seq),
        rev: num(r.rev),
        sender_id: str(r.sender_id),
        client_id: str(r.client_id),
        type: str(r.type),
        text: strOrNull(r.text),
        created_at: str(r.created_at),
        forwarded: fwd.success ? fwd.data : null,
      };
      s.messages.set(m.id, m);
      push(s.byRoom, m.room_id, m);
      push(s.byKey, keyOf(m.room_id, m.sender_id, m.client_id), m);
    }
    for (const list of s.byRoom.values()) list.sort((a, b) => a.seq - b.seq);
    for (const r of all("SELECT message_id, rev, text FROM message_edits"))
      s.edits.set(str(r.message_id), { rev: num(r.rev), text: str(r.text) });
    for (const r of all("SELECT message_id, rev FROM message_deletes"))
      s.deletes.set(str(r.message_id), num(r.rev));
    for (const r of all("SELECT message_id, user_id, rev, emoji FROM message_reactions"))
      nested(s.reactions, str(r.message_id)).set(str(r.user_id), {
        emoji: strOrNull(r.emoji),
        rev: num(r.rev),
      });
    for (const r of all("SELECT message_id, user_id, rev FROM message_hides"))
      nested(s.hides, str(r.message_id)).set(str(r.user_id), num(r.rev));
    for (const r of all("SELECT message_id, user_id, rev, starred FROM message_stars"))
      nested(s.stars, str(r.message_id)).set(str(r.user_id), {
        starred: num(r.starred) === 1,
        rev: num(r.rev),
      });
    for (const r of all("SELECT message_id, rev FROM message_media"))
      s.media.set(str(r.message_id), num(r.rev));
    for (const r of all("SELECT message_id, rev, record FROM message_rollbacks")) {
      const rec = recordSchema.safeParse(parseJson(strOrNull(r.record)));
      if (rec.success)
        s.rollbacks.set(str(r.message_id), { record: { ...rec.data, forwarded: null }, rev: num(r.rev) });
    }
    for (const r of all("SELECT id, type, last_seq, rev FROM rooms"))
      s.rooms.set(str(r.id), { type: str(r.type), last_seq: num(r.last_seq), rev: num(r.rev) });
    for (const r of all("SELECT room_id, user_id, read_seq, joined_rev, muted_until FROM members"))
      nested(s.members, str(r.room_id)).set(str(r.user_id), {
        read_seq: num(r.read_seq),
        joined_rev: num(r.joined_rev),
        muted_until: strOrNull(r.muted_until),
      });
    if (cursorIds.length > 0) {
      for (const r of all(
        "SELECT id, state FROM sync_cursors WHERE kind = 'messages' AND id IN (SELECT value FROM json_each(?))",
        JSON.stringify(cursorIds),
      )) {
        const state = cursorStateSchema.safeParse(parseJson(strOrNull(r.state)));
        if (state.success) s.cursors.set(str(r.id), state.data);
      }
    }
    db.exec("COMMIT");
    return s;
  } finally {
    db.close();
  }
}

/** Rooms a user is a member of now. */
function roomsOf(s: Snapshot, userId: string): string[] {
  const out: string[] = [];
  for (const [room, members] of s.members) if (members.has(userId)) out.push(room);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A message as one viewer should see it, from the store (docs/api.md "Objects", messages.views.ts).

type View = {
  id: string;
  room_id: string;
  seq: number;
  rev: number;
  sender_id: string;
  client_id: string;
  type: string;
  text: string | null;
  deleted: boolean;
  edited: boolean;
  reactions: Record<string, number>;
  my_reaction: string | null;
  starred: boolean;
};

/**
 * `hidden`: how a message the viewer deleted for themselves shows: left out (history) or as a
 * tombstone (sync). A rolled-back message is a tombstone for everyone.
 */
function expectedView(
  s: Snapshot,
  m: StoredMessage,
  viewer: string,
  hidden: "drop" | "tombstone",
): View | null {
  const edit = s.edits.get(m.id);
  const deleteRev = s.deletes.get(m.id);
  const rollback = s.rollbacks.get(m.id);
  const hideRev = s.hides.get(m.id)?.get(viewer);
  if (hideRev !== undefined && hidden === "drop") return null;
  const star = s.stars.get(m.id)?.get(viewer);
  const reactions = s.reactions.get(m.id);
  // `rev` is the latest change the viewer can see: every shared change, and their own hides and stars.
  let rev = Math.max(m.rev, edit?.rev ?? 0, deleteRev ?? 0, s.media.get(m.id) ?? 0, rollback?.rev ?? 0);
  for (const r of reactions?.values() ?? []) rev = Math.max(rev, r.rev);
  rev = Math.max(rev, hideRev ?? 0, star?.rev ?? 0);
  const deleted = deleteRev !== undefined || rollback !== undefined || hideRev !== undefined;
  const counts: Record<string, number> = {};
  if (!deleted)
    for (const r of reactions?.values() ?? [])
      if (r.emoji !== null) counts[r.emoji] = (counts[r.emoji] ?? 0) + 1;
  return {
    id: m.id,
    room_id: m.room_id,
    seq: m.seq,
    rev,
    sender_id: m.sender_id,
    client_id: m.client_id,
    type: m.type,
    text: deleted ? null : (edit?.text ?? m.text),
    deleted,
    edited: edit !== undefined,
    reactions: counts,
    my_reaction: deleted ? null : (reactions?.get(viewer)?.emoji ?? null),
    starred: star?.starred ?? false,
  };
}

const apiViewSchema = z.object({
  id: z.string(),
  room_id: z.string(),
  seq: z.number(),
  rev: z.number(),
  sender_id: z.string(),
  client_id: z.string(),
  type: z.string(),
  text: z.string().nullable(),
  reactions: z.record(z.string(), z.number()),
  my_reaction: z.string().nullable(),
  starred: z.boolean(),
  edited_at: z.string().nullable(),
  deleted: z.boolean(),
});
type ApiView = z.infer<typeof apiViewSchema>;

const fromApi = (v: ApiView): View => ({
  id: v.id,
  room_id: v.room_id,
  seq: v.seq,
  rev: v.rev,
  sender_id: v.sender_id,
  client_id: v.client_id,
  type: v.type,
  text: v.text,
  deleted: v.deleted,
  edited: v.edited_at !== null,
  reactions: v.reactions,
  my_reaction: v.my_reaction,
  starred: v.starred,
});

const sortedJson = (r: Record<string, number>) =>
  JSON.stringify(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The fields that differ, as `field got≠want`, or "" when equal. */
function diff(got: View, want: View): string {
  const out: string[] = [];
  const keys = [
    "room_id",
    "seq",
    "rev",
    "sender_id",
    "client_id",
    "type",
    "text",
    "deleted",
    "edited",
    "my_reaction",
    "starred",
  ] as const;
  for (const k of keys) {
    if (got[k] !== want[k]) out.push(`${k} ${JSON.stringify(got[k])}≠${JSON.stringify(want[k])}`);
  }
  if (sortedJson(got.reactions) !== sortedJson(want.reactions))
    out.push(`reactions ${sortedJson(got.reactions)}≠${sortedJson(want.reactions)}`);
  return out.join(", ");
}

// ---------------------------------------------------------------------------------------------
// HTTP, as a client: retried while the answer is a 503 or the connection fails (a drained
// system should not need it, but a check must not fail on a blip the contract allows).

type Answer<T> = { ok: true; body: T } | { ok: false; status: number | "network"; text: string };

async function getJson<T>(
  base: string,
  pathAndQuery: string,
  token: string,
  schema: z.ZodType<T>,
): Promise<Answer<T>> {
  let last: Answer<T> = { ok: false, status: "network", text: "not tried" };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, 250 * 2 ** attempt));
    let res: Response;
    try {
      res = await fetch(`${base}/api/v1/chat${pathAndQuery}`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(15_000),
      });
    } catch (err) {
      last = { ok: false, status: "network", text: (err as Error).message };
      continue;
    }
    const text = await res.text();
    if (res.status === 503) {
      last = { ok: false, status: 503, text: text.slice(0, 200) };
      continue;
    }
    if (!res.ok) return { ok: false, status: res.status, text: text.slice(0, 200) };
    const parsed = schema.safeParse(parseJson(text));
    if (!parsed.success)
      return {
        ok: false,
        status: res.status,
        text: `unexpected body: ${parsed.error.message.slice(0, 200)}`,
      };
    return { ok: true, body: parsed.data };
  }
  return last;
}

async function forEachLimit<T>(
  items: T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      const item = items[i];
      if (i >= items.length || item === undefined) return;
      await fn(item, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A token for any user, minted with the system's secret (the ledger's may have expired during a long run). */
function tokenFor(sys: CheckedSystem): (userId: string) => string {
  const tokens = new Map<string, string>();
  return (userId) => {
    let t = tokens.get(userId);
    if (!t) {
      t = signToken(sys.jwtSecret, userId, { expiresInS: 3600 });
      tokens.set(userId, t);
    }
    return t;
  };
}

// ---------------------------------------------------------------------------------------------
// 1. acked-stored-once

function checkAckedStoredOnce(s: Snapshot, ledger: Ledger): CheckReport {
  const v = new Verdict("acked-stored-once");
  let rolledBack = 0;
  for (const send of ledger.sends) {
    v.checked++;
    const what = `send ${send.room_id}/${send.user_id}/${send.client_id}`;
    // More than one id is a violation, unless all but one were rolled back (the client_id is then free again).
    const live = send.answeredIds.filter((id) => !s.rollbacks.has(id));
    if (send.answeredIds.length > 1 && live.length > 1)
      v.fail(`${what}: answered with ${send.answeredIds.length} ids (${send.answeredIds.join(", ")})`);
    if (!send.acked) continue;
    const rows = s.byKey.get(keyOf(send.room_id, send.user_id, send.client_id)) ?? [];
    if (s.rollbacks.has(send.acked.message_id)) {
      // A permanent refusal takes an acked message back (announced by message:failed): allowed.
      rolledBack++;
      if (s.messages.has(send.acked.message_id))
        v.fail(`${what}: ${send.acked.message_id} rolled back yet stored`);
      continue;
    }
    if (rows.length === 0) {
      v.fail(`${what}: acked as ${send.acked.message_id} seq ${send.acked.seq}, not stored`);
      continue;
    }
    if (rows.length > 1)
      v.fail(`${what}: stored ${rows.length} times (${rows.map((r) => `${r.id}@${r.seq}`).join(", ")})`);
    const row = rows.find((r) => r.id === send.acked?.message_id);
    if (!row)
      v.fail(
        `${what}: acked as ${send.acked.message_id} seq ${send.acked.seq}, stored as ${rows.map((r) => `${r.id}@${r.seq}`).join(", ")}`,
      );
    else if (row.seq !== send.acked.seq)
      v.fail(`${what}: ${row.id} acked with seq ${send.acked.seq}, stored at seq ${row.seq}`);
  }
  const acked = ledger.sends.filter((x) => x.acked).length;
  v.notes.push(`${acked} acked sends of ${ledger.sends.length}`);
  if (rolledBack > 0)
    v.notes.push(`${rolledBack} acked sends rolled back by the store (allowed: message:failed)`);
  return v.result();
}

// ---------------------------------------------------------------------------------------------
// 2. nothing-unacked-stored

const FORWARD_CLIENT_ID = /^fwd-([0-9A-HJKMNP-TV-Z]{26})-(\d+)$/;

function checkNothingUnackedStored(s: Snapshot, ledger: Ledger): CheckReport {
  const v = new Verdict("nothing-unacked-stored");
  const sends = new Map<string, SendRecord>();
  for (const x of ledger.sends) sends.set(keyOf(x.room_id, x.user_id, x.client_id), x);
  const forwards = new Map<string, Extract<OpRecord, { kind: "forward" }>>();
  const unackedForwards: Extract<OpRecord, { kind: "forward" }>[] = [];
  const mediaMessages = new Set<string>();
  const unackedMedia = new Set<string>();
  for (const op of ledger.ops) {
    if (op.kind === "forward") {
      if (op.forward_id) forwards.set(op.forward_id, op);
      if (!op.acked) unackedForwards.push(op);
    }
    if (op.kind === "media") {
      if (op.message_id) mediaMessages.add(op.message_id);
      if (!op.acked || !op.message_id) unackedMedia.add(`${op.room_id}|${op.user_id}`);
    }
  }
  let withoutAck = 0;
  let copies = 0;
  for (const m of s.messages.values()) {
    if (m.type === "system") continue;
    v.checked++;
    const send = sends.get(keyOf(m.room_id, m.sender_id, m.client_id));
    if (send) {
      if (!send.acked) withoutAck++; // the ack was lost (a crash, a timeout): allowed
      continue;
    }
    const fwd = FORWARD_CLIENT_ID.exec(m.client_id);
    if (fwd?.[1] !== undefined) {
      const op = forwards.get(fwd[1]);
      if (op?.acked && op.user_id === m.sender_id) {
        copies++;
        continue;
      }
      // A forward whose 202 was lost: the same forwarder, source and target, never acked.
      const lost = unackedForwards.some(
        (f) =>
          f.user_id === m.sender_id &&
          f.room_ids.includes(m.room_id) &&
          // a copy names the first message of a chain of forwards
          (s.messages.get(f.message_id)?.forwarded?.original_message_id ?? f.message_id) ===
            m.forwarded?.original_message_id,
      );
      if (lost) {
        withoutAck++;
        continue;
      }
      v.fail(
        `${m.id} (room ${m.room_id} seq ${m.seq}) is a copy of forward ${fwd[1]}, which no acked forward by ${m.sender_id} made`,
      );
      continue;
    }
    if (m.type !== "text" && (mediaMessages.has(m.id) || unackedMedia.has(`${m.room_id}|${m.sender_id}`))) {
      if (!mediaMessages.has(m.id)) withoutAck++;
      continue;
    }
    v.fail(
      `${m.id} (room ${m.room_id} seq ${m.seq} by ${m.sender_id}, client_id ${m.client_id}) matches no send`,
    );
  }
  for (const f of ledger.failed) {
    v.checked++;
    if (s.messages.has(f.message_id))
      v.fail(
        `${f.message_id} (room ${f.room_id}, client_id ${f.client_id}) announced by message:failed (${f.reason}) but stored`,
      );
  }
  v.notes.push(`${withoutAck} stored without ack (an ack lost in a crash or time-out: allowed)`);
  v.notes.push(`${copies} forward copies of acked forwards`);
  return v.result();
}

// ---------------------------------------------------------------------------------------------
// 3. room-seq and history per API node

const historySchema = z.object({ messages: z.array(apiViewSchema), has_more: z.boolean() });

async function readHistory(base: string, roomId: string, token: string): Promise<View[] | string> {
  const out: View[] = [];
  let after = 0;
  for (let page = 0; page < MAX_PAGES; page++) {
    const a = await getJson(
      base,
      `/rooms/${roomId}/messages?after_seq=${after}&limit=100`,
      token,
      historySchema,
    );
    if (!a.ok) return `GET /rooms/${roomId}/messages?after_seq=${after} on ${base}: ${a.status} ${a.text}`;
    out.push(...a.body.messages.map(fromApi));
    if (!a.body.has_more) return out;
    const last = a.body.messages.at(-1);
    // A page the viewer hid entirely cannot be paged past from the outside.
    if (!last)
      return `GET /rooms/${roomId}/messages?after_seq=${after} on ${base}: an empty page with has_more`;
    after = last.seq;
  }
  return `GET /rooms/${roomId}/messages on ${base}: more than ${MAX_PAGES} pages`;
}

async function checkRoomSeq(
  sys: CheckedSystem,
  s: Snapshot,
  token: (u: string) => string,
): Promise<CheckReport> {
  const v = new Verdict("room-seq");
  const rooms = [...s.rooms.keys()].sort();
  let noViewer = 0;
  await forEachLimit(rooms, CONCURRENCY, async (roomId) => {
    v.checked++;
    const list = s.byRoom.get(roomId) ?? [];
    // Seqs strictly increasing, from 1, every one a stored message or a rolled-back one.
    const rolled = new Set(
      [...s.rollbacks.values()].filter((r) => r.record.room_id === roomId).map((r) => r.record.seq),
    );
    let prev = 0;
    for (const m of list) {
      if (m.seq <= prev) v.fail(`room ${roomId}: seq ${m.seq} (${m.id}) after seq ${prev}`);
      for (let missing = prev + 1; missing < m.seq; missing++)
        if (!rolled.has(missing))
          v.fail(`room ${roomId}: seq ${missing} missing (neither stored nor rolled back)`);
      prev = Math.max(prev, m.seq);
    }
    const room = s.rooms.get(roomId);
    if (room && room.last_seq !== prev && !rolled.has(room.last_seq))
      v.fail(`room ${roomId}: last_seq ${room.last_seq}, highest stored seq ${prev}`);

    // The history each node serves a member equals the store's, in latest state.
    const viewer = [...(s.members.get(roomId)?.keys() ?? [])].sort()[0];
    if (viewer === undefined) {
      noViewer++;
      return;
    }
    const want = list.flatMap((m) => expectedView(s, m, viewer, "drop") ?? []);
    const got: (View[] | string)[] = [];
    for (const base of sys.apis) got.push(await readHistory(base, roomId, token(viewer)));
    got.forEach((g, i) => {
      const node = sys.apis[i] ?? `api-${i}`;
      if (typeof g === "string") {
        v.fail(g);
        return;
      }
      compareLists(v, `room ${roomId} history on ${node} as ${viewer}`, g, want);
    });
    const [a, b] = got;
    if (Array.isArray(a) && Array.isArray(b) && JSON.stringify(a) !== JSON.stringify(b))
      v.fail(`room ${roomId}: the two API nodes serve different histories to ${viewer}`);
  });
  v.notes.push(
    `${s.messages.size} stored messages in ${rooms.length} rooms, ${s.rollbacks.size} rolled back`,
  );
  if (noViewer > 0) v.notes.push(`${noViewer} rooms without members: history not read`);
  return v.result();
}

/** Same ids in the same order, each view equal to the store's. */
function compareLists(v: Verdict, what: string, got: View[], want: View[]): void {
  const wantById = new Map(want.map((w) => [w.id, w]));
  const gotIds = new Set(got.map((g) => g.id));
  for (const w of want) if (!gotIds.has(w.id)) v.fail(`${what}: missing ${w.id} seq ${w.seq}`);
  let prevSeq = 0;
  const seen = new Set<string>();
  for (const g of got) {
    if (seen.has(g.id)) v.fail(`${what}: ${g.id} seq ${g.seq} served twice`);
    seen.add(g.id);
    if (g.seq <= prevSeq) v.fail(`${what}: seq ${g.seq} (${g.id}) after seq ${prevSeq}`);
    prevSeq = g.seq;
    const w = wantById.get(g.id);
    if (!w) {
      v.fail(`${what}: ${g.id} seq ${g.seq} served but not stored (or hidden by the viewer)`);
      continue;
    }
    const d = diff(g, w);
    if (d) v.fail(`${what}: ${g.id} seq ${g.seq}: ${d}`);
  }
}

/**
 * A member who left or was removed reads nothing any more (docs/api.md "Group membership and
 * history"): the room's history answers 404 to every user removed by an op and not a member now.
 */
async function checkRemovedSeeNothing(
  sys: CheckedSystem,
  s: Snapshot,
  ledger: Ledger,
  token: (u: string) => string,
): Promise<CheckReport> {
  const v = new Verdict("removed-see-nothing");
  const pairs = [
    ...new Set(ledger.ops.flatMap((op) => (op.kind === "remove" ? [`${op.room_id}|${op.target_id}`] : []))),
  ]
    .map((k) => k.split("|"))
    .filter(([room = "", user = ""]) => s.rooms.has(room) && !(s.members.get(room)?.has(user) ?? false));
  await forEachLimit(pairs, CONCURRENCY, async ([room = "", user = ""], n) => {
    v.checked++;
    const base = sys.apis[n % sys.apis.length] ?? "";
    const a = await getJson(base, `/rooms/${room}/messages?after_seq=0&limit=1`, token(user), z.unknown());
    if (a.ok || a.status !== 404)
      v.fail(
        `${user}, no longer in ${room}: its history answered ${a.ok ? "200" : a.status} on ${base}, not 404`,
      );
  });
  return v.result();
}

// ---------------------------------------------------------------------------------------------
// 4. sync-replay

const syncSchema = z.object({
  messages: z.array(apiViewSchema),
  next_since: z.string(),
  has_more: z.boolean(),
});

async function checkSyncReplay(
  sys: CheckedSystem,
  s: Snapshot,
  ledger: Ledger,
  token: (u: string) => string,
): Promise<CheckReport> {
  const v = new Verdict("sync-replay");
  const devices = ledger.users.flatMap((u) => u.devices.map((d) => ({ user: u.id, ...d })));
  const synced = new Set(
    ledger.ops.flatMap((op) => (op.kind === "sync" ? [`${op.user_id}|${op.device_id}`] : [])),
  );
  let noCursor = 0;
  let pruned = 0;
  let views = 0;
  await forEachLimit(devices, CONCURRENCY, async (d, n) => {
    const who = `${d.user}/${d.device_id}`;
    if (d.firstCursor === null) {
      // Without a cursor the API answers no messages and the current cursor: nothing to replay.
      noCursor++;
      return;
    }
    const had = s.cursors.get(d.firstCursor);
    if (!had) {
      // The server keeps a device's newest cursors and the one it came with; one the device
      // moved on from is dropped (docs/api.md "Sync"). Only a device that never synced keeps it.
      if (synced.has(`${d.user}|${d.device_id}`)) pruned++;
      else v.fail(`${who}: its first cursor ${d.firstCursor} is gone though the device never synced since`);
      return;
    }
    v.checked++;
    // What it may see: the rooms it is in now, each from the later of the cursor's revision and
    // its (last) join; rooms it left or was removed from are not in sync at all.
    const want = new Map<string, View>();
    const start = new Map<string, number>();
    for (const roomId of roomsOf(s, d.user)) {
      const from = Math.max(had[roomId] ?? 0, s.members.get(roomId)?.get(d.user)?.joined_rev ?? 0);
      start.set(roomId, from);
      const candidates = [
        ...(s.byRoom.get(roomId) ?? []),
        ...[...s.rollbacks.values()].filter((r) => r.record.room_id === roomId).map((r) => r.record),
      ];
      for (const m of candidates) {
        const view = expectedView(s, m, d.user, "tombstone");
        if (view && view.rev > from) want.set(view.id, view);
      }
    }
    // Replay, alternating the API nodes page by page (the cursor lives in the store).
    const got: View[] = [];
    let since = d.firstCursor;
    let done = false;
    for (let page = 0; page < MAX_PAGES && !done; page++) {
      const base = sys.apis[(n + page) % sys.apis.length] ?? "";
      const q = `/sync/messages?device_id=${encodeURIComponent(d.device_id)}&since=${since}&limit=100`;
      const a = await getJson(base, q, token(d.user), syncSchema);
      if (!a.ok) {
        v.fail(`${who}: GET ${q} on ${base}: ${a.status} ${a.text}`);
        return;
      }
      got.push(...a.body.messages.map(fromApi));
      since = a.body.next_since;
      done = !a.body.has_more;
    }
    if (!done) v.fail(`${who}: replay did not end within ${MAX_PAGES} pages`);
    views += got.length;
    // Each message once, rooms in rev order, every one it may see and nothing else, in latest state.
    const seen = new Map<string, View>();
    const lastRev = new Map<string, number>();
    for (const g of got) {
      const twice = seen.get(g.id);
      if (twice) v.fail(`${who}: ${g.id} (room ${g.room_id}) came twice, at rev ${twice.rev} and ${g.rev}`);
      seen.set(g.id, g);
      const prev = lastRev.get(g.room_id) ?? 0;
      if (g.rev <= prev) v.fail(`${who}: room ${g.room_id}: ${g.id} at rev ${g.rev} after rev ${prev}`);
      lastRev.set(g.room_id, Math.max(prev, g.rev));
    }
    for (const w of want.values())
      if (!seen.has(w.id))
        v.fail(
          `${who}: missed ${w.id} (room ${w.room_id} seq ${w.seq} rev ${w.rev}, from rev ${start.get(w.room_id)})`,
        );
    for (const g of seen.values()) {
      const w = want.get(g.id);
      if (!w) {
        const from = start.get(g.room_id);
        v.fail(
          from === undefined
            ? `${who}: got ${g.id} of room ${g.room_id}, which the user is not in`
            : `${who}: got ${g.id} (room ${g.room_id} rev ${g.rev}) at or below the start rev ${from}, or unknown to the store`,
        );
        continue;
      }
      const dd = diff(g, w);
      if (dd) v.fail(`${who}: ${g.id} (room ${g.room_id} seq ${g.seq}): ${dd}`);
    }
  });
  v.notes.push(`${views} message views replayed over ${v.checked} devices`);
  if (noCursor > 0) v.notes.push(`${noCursor} devices without a first cursor: nothing to replay`);
  if (pruned > 0)
    v.notes.push(
      `${pruned} devices skipped: they synced during the run, so their first cursor was pruned (allowed)`,
    );
  return v.result();
}

// ---------------------------------------------------------------------------------------------
// 5. unread (GET /unread and the room list) and the read watermarks behind it

const unreadSchema = z.object({ total: z.number(), rooms: z.record(z.string(), z.number()) });
const roomsPageSchema = z.object({
  rooms: z.array(z.object({ id: z.string(), unread_count: z.number() })),
  next_cursor: z.string().nullable(),
});

async function checkUnread(
  sys: CheckedSystem,
  s: Snapshot,
  ledger: Ledger,
  token: (u: string) => string,
): Promise<CheckReport> {
  const v = new Verdict("unread");
  const now = Date.now();
  const users = [
    ...new Set([...ledger.users.map((u) => u.id), ...[...s.members.values()].flatMap((m) => [...m.keys()])]),
  ].sort();
  await forEachLimit(users, CONCURRENCY, async (userId, n) => {
    // From the store: a room's messages above the read watermark, system messages left out.
    const want: Record<string, number> = {};
    let total = 0;
    const holes = new Map<string, number>();
    for (const roomId of roomsOf(s, userId)) {
      const me = s.members.get(roomId)?.get(userId);
      if (!me) continue;
      v.checked++;
      const above = (s.byRoom.get(roomId) ?? []).filter((m) => m.seq > me.read_seq);
      for (const m of above)
        if (m.sender_id === userId && m.type !== "system")
          v.fail(
            `${userId} room ${roomId}: own message ${m.id} seq ${m.seq} above the read watermark ${me.read_seq}`,
          );
      const count = above.filter((m) => m.type !== "system" && m.sender_id !== userId).length;
      const rolled = [...s.rollbacks.values()].filter(
        (r) => r.record.room_id === roomId && r.record.seq > me.read_seq,
      ).length;
      if (rolled > 0) holes.set(roomId, rolled);
      if (count === 0) continue;
      want[roomId] = count;
      const muted = me.muted_until !== null && Date.parse(me.muted_until) > now;
      if (!muted) total += count;
    }
    const base = sys.apis[n % sys.apis.length] ?? "";
    const a = await getJson(base, "/unread", token(userId), unreadSchema);
    if (!a.ok) {
      v.fail(`${userId}: GET /unread on ${base}: ${a.status} ${a.text}`);
      return;
    }
    const hint = (room: string) =>
      holes.has(room) ? ` (${holes.get(room)} rolled-back seqs above the watermark)` : "";
    for (const room of new Set([...Object.keys(want), ...Object.keys(a.body.rooms)])) {
      const got = a.body.rooms[room] ?? 0;
      const expected = want[room] ?? 0;
      if (got !== expected)
        v.fail(
          `${userId} room ${room}: GET /unread on ${base} says ${got}, the store ${expected}${hint(room)}`,
        );
    }
    if (a.body.total !== total)
      v.fail(`${userId}: GET /unread total ${a.body.total} on ${base}, the store ${total}`);

    // The room list (the other node) carries the same counts.
    const other = sys.apis[(n + 1) % sys.apis.length] ?? base;
    let cursor: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const q: string = `/rooms?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
      const r: Answer<z.infer<typeof roomsPageSchema>> = await getJson(
        other,
        q,
        token(userId),
        roomsPageSchema,
      );
      if (!r.ok) {
        v.fail(`${userId}: GET ${q} on ${other}: ${r.status} ${r.text}`);
        return;
      }
      for (const room of r.body.rooms) {
        const expected = want[room.id] ?? 0;
        if (room.unread_count !== expected)
          v.fail(
            `${userId} room ${room.id}: unread_count ${room.unread_count} in GET /rooms on ${other}, the store ${expected}${hint(room.id)}`,
          );
      }
      cursor = r.body.next_cursor;
      if (cursor === null) break;
    }
  });
  v.notes.push(
    "expected per room: stored non-system messages from others above the member's read_seq; total leaves muted rooms out",
  );
  return v.result();
}

/** Every acked read moved the watermark at least that far (when that seq existed then), unless the reader left since. */
function checkReadWatermarks(s: Snapshot, ledger: Ledger): CheckReport {
  const v = new Verdict("read-watermarks");
  const removedLater = removalsByRoomUser(ledger);
  let skipped = 0;
  for (const op of ledger.ops) {
    if (op.kind !== "read" || !op.acked) continue;
    const me = s.members.get(op.room_id)?.get(op.user_id);
    const target = (s.byRoom.get(op.room_id) ?? []).find((m) => m.seq === op.seq);
    // Not a member now, removed since (re-joining resets the watermark to the join), or a seq
    // that did not exist yet when read ("taken as the last message"): nothing to hold it to.
    const left = (removedLater.get(`${op.room_id}|${op.user_id}`) ?? []).some((at) => at > op.at - RACE_MS);
    if (!me || left || !target || Date.parse(target.created_at) > op.at) {
      skipped++;
      continue;
    }
    v.checked++;
    if (me.read_seq < op.seq)
      v.fail(`${op.user_id} room ${op.room_id}: read up to seq ${op.seq} acked, watermark is ${me.read_seq}`);
  }
  v.notes.push(`${skipped} acked reads not held to (reader left or seq not there yet)`);
  return v.result();
}

function removalsByRoomUser(ledger: Ledger): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const op of ledger.ops) if (op.kind === "remove") push(out, `${op.room_id}|${op.target_id}`, op.at);
  return out;
}

// ---------------------------------------------------------------------------------------------
// 6. final-state

/**
 * The value the last acked op (by `at`) set must be the final one, or the value of an op that
 * may have raced it: one that ended less than RACE_MS before it, or any op after it (an
 * unacked one may have been applied: its answer was lost).
 */
function allowedValues<T>(ops: { acked: boolean; at: number; value: T }[]): { last: T; allowed: T[] } | null {
  const sorted = [...ops].sort((a, b) => a.at - b.at);
  const last = sorted.filter((o) => o.acked).at(-1);
  if (!last) return null;
  return {
    last: last.value,
    allowed: sorted.filter((o) => o === last || o.at > last.at - RACE_MS).map((o) => o.value),
  };
}

function checkFinalState(s: Snapshot, ledger: Ledger): CheckReport {
  const v = new Verdict("final-state");
  const group = new Map<string, OpRecord[]>();
  for (const op of ledger.ops) {
    switch (op.kind) {
      case "edit":
        push(group, `edit|${op.message_id}`, op);
        break;
      case "delete":
        push(group, `delete|${op.message_id}|${op.user_id}`, op);
        break;
      case "react":
        push(group, `react|${op.message_id}|${op.user_id}`, op);
        break;
      case "star":
        push(group, `star|${op.message_id}|${op.user_id}`, op);
        break;
      case "add":
      case "remove":
        push(group, `member|${op.room_id}|${op.target_id}`, op);
        break;
      default:
        break;
    }
  }
  const deletedForAll = (id: string) => s.deletes.has(id) || s.rollbacks.has(id);
  let superseded = 0;
  let unknownMessage = 0;
  for (const [key, ops] of group) {
    const [kind = "", id = "", user = ""] = key.split("|");
    if (!ops.some((o) => o.acked)) continue;
    if (kind !== "member" && !s.messages.has(id)) {
      if (s.rollbacks.has(id)) {
        unknownMessage++;
        continue;
      }
      v.checked++;
      v.fail(`${kind} acked on ${id}, which is not stored`);
      continue;
    }
    v.checked++;
    switch (kind) {
      case "delete": {
        // for=everyone sticks; for=me hides it from its deleter (the ledger does not say which).
        const hidden = s.hides.get(id)?.has(user) ?? false;
        const acked = ops.some((o) => o.acked);
        if (acked && !deletedForAll(id) && !hidden)
          v.fail(`delete of ${id} by ${user} acked, but it is neither a tombstone nor hidden for ${user}`);
        break;
      }
      case "edit": {
        if (deletedForAll(id)) {
          superseded++; // a delete supersedes edits
          break;
        }
        const r = allowedValues(
          ops.flatMap((o) => (o.kind === "edit" ? [{ acked: o.acked, at: o.at, value: o.text }] : [])),
        );
        if (!r) break;
        const final = s.edits.get(id)?.text ?? null;
        if (final === null || !r.allowed.includes(final))
          v.fail(
            `edit of ${id}: last acked text ${JSON.stringify(r.last)}, stored ${final === null ? "no edit" : JSON.stringify(final)}`,
          );
        break;
      }
      case "react": {
        if (deletedForAll(id)) {
          superseded++; // a tombstone has no reactions
          break;
        }
        const r = allowedValues(
          ops.flatMap((o) => (o.kind === "react" ? [{ acked: o.acked, at: o.at, value: o.emoji }] : [])),
        );
        if (!r) break;
        const final = s.reactions.get(id)?.get(user)?.emoji ?? null;
        if (!r.allowed.includes(final))
          v.fail(
            `reaction of ${user} on ${id}: last acked ${JSON.stringify(r.last)}, stored ${JSON.stringify(final)}`,
          );
        break;
      }
      case "star": {
        const r = allowedValues(
          ops.flatMap((o) => (o.kind === "star" ? [{ acked: o.acked, at: o.at, value: o.starred }] : [])),
        );
        if (!r) break;
        const final = s.stars.get(id)?.get(user)?.starred ?? false;
        if (!r.allowed.includes(final))
          v.fail(`star of ${user} on ${id}: last acked ${r.last}, stored ${final}`);
        break;
      }
      case "member": {
        const r = allowedValues(
          ops.flatMap((o) =>
            o.kind === "add" || o.kind === "remove"
              ? [{ acked: o.acked, at: o.at, value: o.kind === "add" }]
              : [],
          ),
        );
        if (!r) break;
        const final = s.members.get(id)?.has(user) ?? false;
        if (!r.allowed.includes(final))
          v.fail(
            `membership of ${user} in ${id}: last acked ${r.last ? "add" : "remove"}, ${final ? "a member" : "not a member"}`,
          );
        break;
      }
      default:
        break;
    }
  }
  v.notes.push(`a later op may win if it ended after, or less than ${RACE_MS} ms before, the last acked one`);
  if (superseded > 0) v.notes.push(`${superseded} edit/reaction histories superseded by a delete`);
  if (unknownMessage > 0) v.notes.push(`${unknownMessage} op histories on rolled-back messages skipped`);
  return v.result();
}

// ---------------------------------------------------------------------------------------------
// 7. forwards-once

function checkForwardsOnce(s: Snapshot, ledger: Ledger): CheckReport {
  const v = new Verdict("forwards-once");
  const copiesOf = new Map<string, StoredMessage[]>();
  for (const m of s.messages.values()) {
    const f = FORWARD_CLIENT_ID.exec(m.client_id);
    if (f?.[1] !== undefined) push(copiesOf, f[1], m);
  }
  const removals = removalsByRoomUser(ledger);
  const deletesOf = new Map<string, number[]>();
  for (const op of ledger.ops) if (op.kind === "delete") push(deletesOf, op.message_id, op.at);
  let skipped = 0;
  let noId = 0;
  for (const op of ledger.ops) {
    if (op.kind !== "forward" || !op.acked) continue;
    if (!op.forward_id) {
      noId++;
      continue;
    }
    const targets = [...new Set(op.room_ids)]; // as the server dedupes them, first occurrence kept
    const copies = copiesOf.get(op.forward_id) ?? [];
    const source = s.messages.get(op.message_id);
    const sourceRoom = source?.room_id ?? "";
    const since = (times: number[] | undefined) => (times ?? []).some((t) => t > op.at - RACE_MS);
    // No copy is the contract when, by the time the pool ran, the source was deleted or hidden
    // for the forwarder, or the forwarder had left the source room or that target.
    const sourceGone =
      !source ||
      s.deletes.has(op.message_id) ||
      (s.hides.get(op.message_id)?.has(op.user_id) ?? false) ||
      since(deletesOf.get(op.message_id)) ||
      !(s.members.get(sourceRoom)?.has(op.user_id) ?? false) ||
      since(removals.get(`${sourceRoom}|${op.user_id}`));
    for (const c of copies) {
      const i = Number(FORWARD_CLIENT_ID.exec(c.client_id)?.[2] ?? -1);
      if (targets[i] !== c.room_id)
        v.fail(
          `forward ${op.forward_id}: copy ${c.id} (${c.client_id}) in room ${c.room_id}, target ${i} is ${targets[i] ?? "none"}`,
        );
      if (c.sender_id !== op.user_id)
        v.fail(`forward ${op.forward_id}: copy ${c.id} sent by ${c.sender_id}, not ${op.user_id}`);
      if (c.forwarded === null) v.fail(`forward ${op.forward_id}: copy ${c.id} carries no "forwarded"`);
    }
    targets.forEach((room, i) => {
      v.checked++;
      const here = copies.filter((c) => c.room_id === room && c.client_id === `fwd-${op.forward_id}-${i}`);
      if (here.length > 1)
        v.fail(
          `forward ${op.forward_id} to ${room}: ${here.length} copies (${here.map((c) => c.id).join(", ")})`,
        );
      if (here.length === 1) return;
      const leftTarget =
        !(s.members.get(room)?.has(op.user_id) ?? false) || since(removals.get(`${room}|${op.user_id}`));
      if (sourceGone || leftTarget) skipped++;
      else v.fail(`forward ${op.forward_id} of ${op.message_id} by ${op.user_id} to ${room}: no copy`);
    });
  }
  v.notes.push(
    `${skipped} targets without a copy, allowed (source deleted/hidden/left, or target left, by then)`,
  );
  if (noId > 0) v.notes.push(`${noId} acked forwards without a forward_id: not checked`);
  return v.result();
}

// ---------------------------------------------------------------------------------------------
// 8. pushes-once

function checkPushesOnce(sys: CheckedSystem, s: Snapshot): CheckReport {
  const v = new Verdict("pushes-once");
  const notifyDown = [
    ...sys.faults
      .filter((f) => f.kind === "kill" && f.target.includes("notify"))
      .map((f) => ({ from: f.at, to: f.at + f.ms })),
    ...sys.downWindows().filter((w) => w.target.includes("notify")),
  ];
  const byKey = new Map<string, { at: number; type: string; user_id: string }[]>();
  for (const p of sys.pushes()) {
    if (p.message_id === null) continue; // "clear" pushes carry no message
    v.checked++;
    // Pushes go out once a message is stored, so a pushed message is a stored one.
    if (!s.messages.has(p.message_id))
      v.fail(
        `${p.type} push of ${p.message_id} to device ${p.device_id} of ${p.user_id}: no such stored message`,
      );
    push(byKey, `${p.message_id}|${p.device_id}`, p);
  }
  let allowed = 0;
  for (const [key, list] of byKey) {
    if (list.length < 2) continue;
    list.sort((a, b) => a.at - b.at);
    for (let i = 1; i < list.length; i++) {
      const a = list[i - 1];
      const b = list[i];
      if (!a || !b) continue;
      const killBetween = notifyDown.some((w) => w.from >= a.at - PUSH_MARGIN_MS && w.from <= b.at);
      const [message, device] = key.split("|");
      if (killBetween) allowed++;
      else
        v.fail(
          `message ${message} pushed twice to device ${device} of ${b.user_id} (at +${b.at - a.at} ms, no notify kill between)`,
        );
    }
  }
  v.notes.push(`${allowed} repeated pushes allowed (at-least-once across a notify-pool kill)`);
  if (v.checked === 0)
    v.notes.push("no message pushes recorded: no device had a push token, so nothing was checked");
  return v.result();
}

// ---------------------------------------------------------------------------------------------
// 9. no-5xx

function checkNo5xx(sys: CheckedSystem, ledger: Ledger): CheckReport {
  const v = new Verdict("no-5xx");
  const apiDown = [
    ...sys.downWindows().filter((w) => w.target.startsWith("api")),
    ...sys.faults
      .filter((f) => f.kind === "kill" && f.target.startsWith("api"))
      .map((f) => ({ from: f.at, to: f.at + f.ms })),
  ];
  const windows = sys.downWindows();
  // For the reader: what was down while the request was in flight (at most a time-out before its end).
  const downAround = (t: number) => {
    const targets = [
      ...new Set(windows.filter((w) => w.to >= t - RACE_MS && w.from <= t).map((w) => w.target)),
    ];
    return targets.length > 0 ? ` (down meanwhile: ${targets.sort().join(", ")})` : " (nothing was down)";
  };
  let network = 0;
  let unavailable = 0;
  for (const o of ledger.outcomes) {
    v.checked++;
    const at = `${o.what} at +${((o.at - ledger.startedAt) / 1000).toFixed(1)}s`;
    if (/^\d{3}$/.test(o.result)) {
      const status = Number(o.result);
      if (status === 503) unavailable++;
      else if (status >= 500) v.fail(`${at}: ${status}${downAround(o.at)}`);
      continue;
    }
    if (o.result === "ack-ok") continue;
    if (o.result.startsWith("ack-error:")) {
      const code = o.result.slice("ack-error:".length);
      // "internal" is the socket's 500; "?" an ack off the contract's shape.
      if (code === "internal" || code === "?") v.fail(`${at}: ${o.result}${downAround(o.at)}`);
      else if (code === "unavailable") unavailable++;
      continue;
    }
    if (o.result === "network" || o.result === "timeout") {
      const during = apiDown.some(
        (w) => o.at >= w.from - NETWORK_MARGIN_MS && o.at <= w.to + NETWORK_MARGIN_MS,
      );
      if (during) network++;
      else v.fail(`${at}: ${o.result} while no API was down${downAround(o.at)}`);
      continue;
    }
    v.fail(`${at}: unknown outcome ${JSON.stringify(o.result)}`);
  }
  v.notes.push(
    `${unavailable} answers 503 / unavailable (allowed), ${network} network errors while an API was down (allowed)`,
  );
  return v.result();
}

// ---------------------------------------------------------------------------------------------
// 10. drained / no crashes

function checkDrained(sys: CheckedSystem, drain: Drain): CheckReport {
  const v = new Verdict("drained-no-crashes");
  v.checked = 1;
  if (!drain.drained) v.fail("the system did not drain");
  if (drain.pendingMessages > 0) v.fail(`${drain.pendingMessages} messages still pending in Redis`);
  if (drain.pendingOps > 0) v.fail(`${drain.pendingOps} ops still pending in Redis`);
  for (const [queue, n] of Object.entries(drain.jobs))
    if (n > 0) v.fail(`queue ${queue}: ${n} jobs not done`);
  for (const [queue, n] of Object.entries(drain.failedJobs ?? {}))
    if (n > 0) v.fail(`queue ${queue}: ${n} jobs in the failed set`);
  for (const c of sys.crashes()) {
    v.checked++;
    v.fail(`crash: ${c.split("\n").slice(0, 6).join(" | ")}`);
  }
  return v.result();
}

// ---------------------------------------------------------------------------------------------

/** Runs every check; call once the system has drained (the persist backlog empty, queues idle). */
export async function runChecks(
  sys: CheckedSystem,
  ledger: Ledger,
  drain: Drain,
  log: (l: string) => void,
): Promise<CheckReport[]> {
  const cursorIds = ledger.users.flatMap((u) =>
    u.devices.flatMap((d) => (d.firstCursor ? [d.firstCursor] : [])),
  );
  log(`checks: reading the store ${sys.dbPath}`);
  const s = readSnapshot(sys.dbPath, cursorIds);
  const token = tokenFor(sys);
  const out: CheckReport[] = [];
  const run = async (name: string, f: () => CheckReport | Promise<CheckReport>) => {
    const t = Date.now();
    let r: CheckReport;
    try {
      r = await f();
    } catch (err) {
      // A check that cannot run is a failed check, not a crashed soak.
      r = {
        name,
        checked: 0,
        violations: [`the check threw: ${(err as Error).stack ?? String(err)}`],
        violationCount: 1,
        notes: [],
      };
    }
    out.push(r);
    log(`checks: ${r.name}: ${r.checked} checked, ${r.violationCount} violations (${Date.now() - t} ms)`);
  };
  await run("acked-stored-once", () => checkAckedStoredOnce(s, ledger));
  await run("nothing-unacked-stored", () => checkNothingUnackedStored(s, ledger));
  await run("room-seq", () => checkRoomSeq(sys, s, token));
  await run("removed-see-nothing", () => checkRemovedSeeNothing(sys, s, ledger, token));
  await run("sync-replay", () => checkSyncReplay(sys, s, ledger, token));
  await run("unread", () => checkUnread(sys, s, ledger, token));
  await run("read-watermarks", () => checkReadWatermarks(s, ledger));
  await run("final-state", () => checkFinalState(s, ledger));
  await run("forwards-once", () => checkForwardsOnce(s, ledger));
  await run("pushes-once", () => checkPushesOnce(sys, s));
  await run("no-5xx", () => checkNo5xx(sys, ledger));
  await run("drained-no-crashes", () => checkDrained(sys, drain));
  return out;
}

// ---------------------------------------------------------------------------------------------
// The report

function tally(keys: string[]): [string, number][] {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return [...m.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

const isReport = (c: CheckResult): c is CheckReport => "violationCount" in c && "notes" in c;

export function formatReport(
  ledger: Ledger,
  faults: readonly Fault[],
  checks: CheckResult[],
  drain: Drain,
): string {
  const lines: string[] = [];
  const rel = (at: number) => `+${((at - ledger.startedAt) / 1000).toFixed(1)}s`;
  lines.push("== soak report ==");
  lines.push(`seed ${ledger.seed}`);
  lines.push(`duration ${((ledger.endedAt - ledger.startedAt) / 1000).toFixed(1)} s`);
  lines.push(
    `users ${ledger.users.length}, devices ${ledger.users.reduce((n, u) => n + u.devices.length, 0)}, rooms ${ledger.rooms.length}`,
  );

  lines.push("", "operations (acked / not):");
  const kinds = new Map<string, { acked: number; not: number }>();
  const count = (kind: string, acked: boolean) => {
    const k = kinds.get(kind) ?? { acked: 0, not: 0 };
    if (acked) k.acked++;
    else k.not++;
    kinds.set(kind, k);
  };
  for (const x of ledger.sends) count("send", x.acked !== null);
  for (const op of ledger.ops) count(op.kind, op.acked);
  for (const [kind, k] of [...kinds.entries()].sort())
    lines.push(`  ${kind.padEnd(10)} ${k.acked} / ${k.not}`);

  lines.push("", "sends by transport (acked / not) and attempts:");
  for (const transport of ["rest", "socket"] as const) {
    const of = ledger.sends.filter((x) => x.transport === transport);
    const acked = of.filter((x) => x.acked).length;
    const attempts = tally(of.map((x) => (x.attempts >= 4 ? "4+" : String(x.attempts))))
      .sort((a, b) => (a[0] < b[0] ? -1 : 1))
      .map(([k, n]) => `${k}×${n}`)
      .join(" ");
    const retries = of.reduce((n, x) => n + Math.max(0, x.attempts - 1), 0);
    lines.push(
      `  ${transport.padEnd(6)} ${acked} / ${of.length - acked}; attempts ${attempts || "-"}; ${retries} retries`,
    );
  }
  lines.push(`  message:failed received ${ledger.failed.length}`);

  lines.push("", "outcomes by result:");
  for (const [result, n] of tally(ledger.outcomes.map((o) => o.result)))
    lines.push(`  ${result.padEnd(28)} ${n}`);
  const odd = tally(
    ledger.outcomes.filter((o) => !/^(2\d\d|ack-ok)$/.test(o.result)).map((o) => `${o.what} → ${o.result}`),
  );
  if (odd.length > 0) {
    lines.push("  non-success by operation:");
    for (const [k, n] of odd.slice(0, 40)) lines.push(`    ${k} ${n}`);
    if (odd.length > 40) lines.push(`    ... ${odd.length - 40} more`);
  }

  lines.push("", `faults (${faults.length}):`);
  for (const [k, n] of tally(faults.map((f) => `${f.kind} ${f.target}`)))
    lines.push(`  ${k.padEnd(28)} ${n}`);
  for (const f of faults) lines.push(`  ${rel(f.at)} ${f.kind} ${f.target} ${f.ms} ms`);

  lines.push("", "drain:");
  lines.push(
    `  drained ${drain.drained}, pending messages ${drain.pendingMessages}, pending ops ${drain.pendingOps}`,
  );
  const jobs = Object.entries(drain.jobs)
    .map(([q, n]) => `${q} ${n}`)
    .join(", ");
  lines.push(`  jobs left: ${jobs || "none"}`);
  if (drain.failedJobs) {
    const failed = Object.entries(drain.failedJobs)
      .map(([q, n]) => `${q} ${n}`)
      .join(", ");
    lines.push(`  failed jobs: ${failed || "none"}`);
  }

  lines.push("", "checks:");
  for (const c of checks) {
    const n = isReport(c) ? c.violationCount : c.violations.length;
    lines.push(`  ${n === 0 ? "ok  " : "FAIL"} ${c.name}: ${c.checked} checked, ${n} violations`);
    if (isReport(c)) for (const note of c.notes) lines.push(`         note: ${note}`);
    for (const v of c.violations) lines.push(`         - ${v}`);
  }
  const failed = checks.some((c) => c.violations.length > 0) || !drain.drained;
  lines.push("", failed ? "FAIL" : "PASS");
  return lines.join("\n");
}
