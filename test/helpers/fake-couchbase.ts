import couchbase, { type Cas, type ErrorContext, type QueryOptions, QueryScanConsistency } from "couchbase";
import type { KvCollection, QueryScope } from "../../src/store/couchbase/couchbase.kv.ts";
import {
  COLLECTIONS,
  type CollectionName,
  type CouchbaseHandles,
} from "../../src/store/couchbase/couchbase.layout.ts";
import { QUERIES, type QueryName } from "../../src/store/couchbase/couchbase.queries.ts";
import { createCouchbaseStore } from "../../src/store/couchbase/couchbase.store.ts";
import type { Store } from "../../src/store/store.ts";

/**
 * An in-memory stand-in for the part of the Couchbase SDK the adapter uses (KvCollection and
 * QueryScope), so the store contract runs without a server. KV behaves as the SDK does
 * (errors, CAS, JSON documents); each SQL++ statement of couchbase.queries.ts has a JavaScript
 * twin here, written against SQL++'s semantics (MISSING vs NULL, collation, four-valued logic).
 */

export type KvOp = "get" | "insert" | "replace" | "upsert" | "remove";
export type WriteOp = Exclude<KvOp, "get">;
export type BeforeWrite = (collection: CollectionName, op: WriteOp, key: string) => Promise<void> | void;

/** The SDK's Cas is opaque; compared by value (its string form), as the server does. */
class FakeCas implements Cas {
  readonly #value: bigint;
  constructor(value: bigint) {
    this.#value = value;
  }
  toString(): string {
    return this.#value.toString();
  }
  toJSON(): string {
    return this.#value.toString();
  }
}

type Entry = { content: unknown; cas: FakeCas };
type Fault = { error: Error; applyFirst: boolean };

/** Lets other callers run between a request and its answer, as a network round trip would. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The server's limits on a key (1..250 bytes) and a document (20 MiB). */
const MAX_KEY_BYTES = 250;
const MAX_DOC_BYTES = 20 * 1024 * 1024;

export class FakeCouchbase {
  readonly #data = new Map<CollectionName, Map<string, Entry>>(COLLECTIONS.map((c) => [c, new Map()]));
  readonly #faults = new Map<string, Fault[]>();
  #beforeWrite: BeforeWrite | null = null;
  // Real CAS values are nanosecond-ish timestamps: start there so nothing can assume small numbers.
  #cas = 1_700_000_000_000_000_000n;

  handles(): CouchbaseHandles {
    return {
      collection: (name) => this.#collection(name),
      scope: { query: (statement, options) => this.#query(statement, options) } satisfies QueryScope,
    };
  }

  /**
   * The next `op` on `collection` throws `error`. With applyFirst the operation is carried out
   * first (an ambiguous timeout that did write). Several calls queue up, in order.
   */
  failNext(collection: CollectionName, op: KvOp, error: Error, opts: { applyFirst?: boolean } = {}): void {
    const key = `${collection}/${op}`;
    this.#faults.set(key, [
      ...(this.#faults.get(key) ?? []),
      { error, applyFirst: opts.applyFirst ?? false },
    ]);
  }

  /**
   * Runs before every write reaches the data (after the request "left"), to force an
   * interleaving. Writes made from the hook through handles() run the hook again; `put` does not.
   */
  beforeWrite(hook: BeforeWrite | null): void {
    this.#beforeWrite = hook;
  }

  /** A document as stored (a copy), or undefined: for tests, no delay, no faults. */
  peek(collection: CollectionName, key: string): unknown {
    const entry = this.#docs(collection).get(key);
    return entry === undefined ? undefined : structuredClone(entry.content);
  }

  /** Writes a document directly (a new CAS), bypassing delays, hooks and faults. */
  put(collection: CollectionName, key: string, content: unknown): void {
    this.#docs(collection).set(key, { content: encode(key, content), cas: this.#nextCas() });
  }

  /** Every key of a collection, in key order. */
  keys(collection: CollectionName): string[] {
    return [...this.#docs(collection).keys()].sort(compareStrings);
  }

  #nextCas(): FakeCas {
    this.#cas += 1n;
    return new FakeCas(this.#cas);
  }

  #docs(name: string): Map<string, Entry> {
    const docs = this.#data.get(name as CollectionName);
    if (!docs) throw new couchbase.CollectionNotFoundError(new Error(`no collection ${name}`));
    return docs;
  }

  #collection(name: CollectionName): KvCollection {
    return {
      get: (key) =>
        this.#op(name, "get", key, (docs) => {
          const entry = docs.get(key);
          if (!entry) throw kvError(couchbase.DocumentNotFoundError, name, key, 0x01);
          return { content: structuredClone(entry.content), cas: entry.cas };
        }),
      insert: (key, value) =>
        this.#op(name, "insert", key, (docs) => {
          if (docs.has(key)) throw kvError(couchbase.DocumentExistsError, name, key, 0x02);
          return this.#store(docs, key, value);
        }),
      replace: (key, value, options) =>
        this.#op(name, "replace", key, (docs) => {
          const entry = docs.get(key);
          if (!entry) throw kvError(couchbase.DocumentNotFoundError, name, key, 0x01);
          // The SDK sends no CAS when none is given (an unconditional replace).
          if (options?.cas !== undefined && options.cas.toString() !== entry.cas.toString())
            throw kvError(couchbase.CasMismatchError, name, key, 0x02);
          return this.#store(docs, key, value);
        }),
      upsert: (key, value) => this.#op(name, "upsert", key, (docs) => this.#store(docs, key, value)),
      remove: (key, options) =>
        this.#op(name, "remove", key, (docs) => {
          const entry = docs.get(key);
          if (!entry) throw kvError(couchbase.DocumentNotFoundError, name, key, 0x01);
          if (options?.cas !== undefined && options.cas.toString() !== entry.cas.toString())
            throw kvError(couchbase.CasMismatchError, name, key, 0x02);
          docs.delete(key);
          return { cas: this.#nextCas() };
        }),
    };
  }

  #store(docs: Map<string, Entry>, key: string, value: unknown): { cas: Cas } {
    const cas = this.#nextCas();
    docs.set(key, { content: encode(key, value), cas });
    return { cas };
  }

  /** One KV round trip: delay, the write hook, an injected fault (before or after acting), delay. */
  async #op<T>(
    name: CollectionName,
    op: KvOp,
    key: string,
    act: (docs: Map<string, Entry>) => T,
  ): Promise<T> {
    await tick();
    if (op !== "get") await this.#beforeWrite?.(name, op, key);
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      checkKey(key);
      const docs = this.#docs(name);
      const fault = this.#faults.get(`${name}/${op}`)?.shift();
      if (fault && !fault.applyFirst) throw fault.error;
      try {
        const value = act(docs);
        outcome = fault ? { ok: false, error: fault.error } : { ok: true, value };
      } catch (err) {
        // The server's answer (whatever it was) is lost behind the injected error.
        if (fault) throw fault.error;
        throw err;
      }
    } catch (error) {
      outcome = { ok: false, error };
    }
    await tick();
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  async #query(statement: string, options: QueryOptions): Promise<{ rows: unknown[] }> {
    const name = options.clientContextId;
    if (typeof name !== "string" || !Object.hasOwn(QUERIES, name))
      throw new Error(`fake couchbase: no query named ${String(name)} (clientContextId)`);
    const query = name as QueryName;
    // The twin below is only right for this exact text: any change to it must change the twin too.
    if (statement !== QUERIES[query])
      throw new Error(`fake couchbase: the statement passed as ${query} is not QUERIES.${query}`);
    // A stale index (not_bounded) is not modelled: a query that passed here could miss writes there.
    if (options.scanConsistency !== QueryScanConsistency.RequestPlus)
      throw new Error(`fake couchbase: ${query} without RequestPlus scan consistency`);
    if (Array.isArray(options.parameters))
      throw new Error(`fake couchbase: ${query}: positional parameters, the statements use named ones`);
    // The SDK sends parameters as JSON (undefined values vanish), and rows come back as JSON.
    const params: Params = JSON.parse(JSON.stringify(options.parameters ?? {}));
    await tick();
    const rows = IMPLEMENTATIONS[query](this.#keyspaces(), params);
    const out: unknown[] = JSON.parse(JSON.stringify(rows));
    await tick();
    return { rows: out };
  }

  #keyspaces(): Keyspaces {
    return {
      // A scan yields documents in key order, as a primary index would; statements without
      // ORDER BY promise no order at all.
      scan: (c) => this.keys(c).map((k) => this.#docs(c).get(k)?.content),
      byKey: (c, key) => (typeof key === "string" ? this.#docs(c).get(key)?.content : undefined),
    };
  }
}

/** A store on a fresh fake, and the fake (to inject faults or inspect documents). */
export function makeFakeCouchbaseStore(): { store: Store; fake: FakeCouchbase } {
  const fake = new FakeCouchbase();
  const store = createCouchbaseStore(fake.handles(), { ping: async () => {}, close: async () => {} });
  return { store, fake };
}

// --- KV details -----------------------------------------------------------------------------

function kvError(
  Kind: new (cause?: Error, context?: ErrorContext) => Error,
  collection: string,
  key: string,
  status: number,
): Error {
  return new Kind(
    undefined,
    new couchbase.KeyValueErrorContext({
      status_code: status,
      opaque: 0,
      cas: new FakeCas(0n),
      key,
      bucket: "fake",
      collection,
      scope: "fake",
      context: "",
      ref: "",
      last_dispatched_to: "",
      last_dispatched_from: "",
      retry_attempts: 0,
      retry_reasons: [],
    }),
  );
}

function checkKey(key: string): void {
  const bytes = Buffer.byteLength(key);
  if (bytes === 0 || bytes > MAX_KEY_BYTES)
    throw new couchbase.InvalidArgumentError(new Error(`key of ${bytes} bytes (1..${MAX_KEY_BYTES})`));
}

/** What the SDK's default transcoder stores: the value's JSON (so undefined fields vanish, dates become strings). */
function encode(key: string, value: unknown): unknown {
  const json = JSON.stringify(value);
  if (json === undefined) throw new couchbase.EncodingFailureError(new Error(`${key}: not JSON`));
  if (Buffer.byteLength(json) > MAX_DOC_BYTES) throw new couchbase.ValueTooLargeError();
  return JSON.parse(json);
}

// --- SQL++ semantics ------------------------------------------------------------------------
// MISSING is `undefined`, NULL is `null`; every other value is JSON. A condition is TRUE, FALSE,
// NULL or MISSING (`Tri`), and WHERE keeps a row only when it is TRUE.

type Tri = boolean | null | undefined;
type Params = Record<string, unknown>;
type Keyspaces = {
  scan(collection: CollectionName): unknown[];
  byKey(collection: CollectionName, key: unknown): unknown;
};

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** `v.a.b`: MISSING when a step is absent or not an object. */
function path(v: unknown, ...names: string[]): unknown {
  let cur = v;
  for (const name of names) cur = isObject(cur) && Object.hasOwn(cur, name) ? cur[name] : undefined;
  return cur;
}

const isValued = (v: unknown): boolean => v !== undefined && v !== null;

/** SQL++ type order (MISSING < NULL < FALSE < TRUE < number < string < array < object). */
function rank(v: unknown): number {
  if (v === undefined) return 0;
  if (v === null) return 1;
  if (v === false) return 2;
  if (v === true) return 3;
  if (typeof v === "number") return 4;
  if (typeof v === "string") return 5;
  if (Array.isArray(v)) return 6;
  return 7;
}

/** Strings compare by UTF-8 bytes, which is code point order (JS `<` compares UTF-16 units). */
function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = (x[i]?.codePointAt(0) ?? 0) - (y[i]?.codePointAt(0) ?? 0);
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/** SQL++ collation: by type, then value; arrays element-wise; objects by size, keys, then values. */
function collate(a: unknown, b: unknown): number {
  const r = rank(a) - rank(b);
  if (r !== 0) return r;
  if (typeof a === "number" && typeof b === "number") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "string" && typeof b === "string") return compareStrings(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = collate(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a).sort(compareStrings);
    const kb = Object.keys(b).sort(compareStrings);
    if (ka.length !== kb.length) return ka.length - kb.length;
    const keys = collate(ka, kb);
    if (keys !== 0) return keys;
    for (const k of ka) {
      const c = collate(a[k], b[k]);
      if (c !== 0) return c;
    }
  }
  return 0;
}

/** A comparison: MISSING if either side is, else NULL if either side is, else by collation. */
function compare(a: unknown, b: unknown, test: (c: number) => boolean): Tri {
  if (a === undefined || b === undefined) return undefined;
  if (a === null || b === null) return null;
  return test(collate(a, b));
}
const eq = (a: unknown, b: unknown): Tri => compare(a, b, (c) => c === 0);
const lt = (a: unknown, b: unknown): Tri => compare(a, b, (c) => c < 0);
const gt = (a: unknown, b: unknown): Tri => compare(a, b, (c) => c > 0);

/** Four-valued AND: FALSE wins, then MISSING, then NULL. */
function and(...ts: Tri[]): Tri {
  if (ts.includes(false)) return false;
  if (ts.includes(undefined)) return undefined;
  if (ts.includes(null)) return null;
  return true;
}
/** Four-valued OR: TRUE wins, then NULL, then MISSING. */
function or(...ts: Tri[]): Tri {
  if (ts.includes(true)) return true;
  if (ts.includes(null)) return null;
  if (ts.includes(undefined)) return undefined;
  return false;
}
const not = (t: Tri): Tri => (typeof t === "boolean" ? !t : t);

/** `ANY x IN arr SATISFIES cond END` (and EVERY): MISSING over MISSING, NULL over a non-array. */
function anyIn(arr: unknown, cond: (x: unknown) => Tri): Tri {
  if (arr === undefined) return undefined;
  if (!Array.isArray(arr)) return null;
  return arr.some((x) => cond(x) === true);
}
function everyIn(arr: unknown, cond: (x: unknown) => Tri): Tri {
  if (arr === undefined) return undefined;
  if (!Array.isArray(arr)) return null;
  return arr.every((x) => cond(x) === true);
}

/** `FIRST x FOR x IN arr WHEN cond END`: MISSING when nothing matches. */
function firstIn(arr: unknown, when: (x: unknown) => Tri): unknown {
  if (arr === undefined) return undefined;
  if (!Array.isArray(arr)) return null;
  return arr.find((x) => when(x) === true);
}

/** `v IN arr`. */
function inArray(v: unknown, arr: unknown): Tri {
  if (v === undefined || arr === undefined) return undefined;
  if (v === null || !Array.isArray(arr)) return null;
  return arr.some((x) => eq(v, x) === true);
}

/** ARRAY_CONTAINS(arr, v). */
function arrayContains(arr: unknown, v: unknown): Tri {
  if (arr === undefined || v === undefined) return undefined;
  if (!Array.isArray(arr)) return null;
  return arr.some((x) => eq(x, v) === true);
}

/** CONTAINS(s, t): substring test, NULL unless both are strings. */
function contains(s: unknown, t: unknown): Tri {
  if (s === undefined || t === undefined) return undefined;
  if (typeof s !== "string" || typeof t !== "string") return null;
  return s.includes(t);
}

/** IFMISSINGORNULL(a, b, ...): the first valued argument, else NULL. */
const ifMissingOrNull = (...vs: unknown[]): unknown => vs.find(isValued) ?? null;

/** MAX(expr) over rows: ignores MISSING and NULL; NULL when nothing is left. */
function max(vs: unknown[]): unknown {
  let best: unknown = null;
  for (const v of vs) if (isValued(v) && (best === null || collate(v, best) > 0)) best = v;
  return best;
}

/** `[a, b]`: an array constructor turns MISSING elements into NULL. */
const array = (...vs: unknown[]): unknown[] => vs.map((v) => (v === undefined ? null : v));

/** A projection `SELECT a, b AS c`: MISSING fields are left out of the row object. */
function project(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/** `SELECT RAW expr`: a MISSING value yields no row. */
const raw = (vs: unknown[]): unknown[] => vs.filter((v) => v !== undefined);

type OrderTerm<R> = { key: (row: R) => unknown; desc?: boolean };
/** ORDER BY (stable): ascending puts MISSING and NULL first, descending last. */
function orderBy<R>(rows: R[], ...terms: OrderTerm<R>[]): R[] {
  return [...rows].sort((a, b) => {
    for (const t of terms) {
      const c = collate(t.key(a), t.key(b));
      if (c !== 0) return t.desc ? -c : c;
    }
    return 0;
  });
}

/** A named parameter: the server refuses a statement whose `$name` has no value. */
function param(p: Params, name: string): unknown {
  if (!Object.hasOwn(p, name)) throw new Error(`fake couchbase: no value for named parameter $${name}`);
  return p[name];
}

/** LIMIT $limit: a non-negative integer. */
function limitOf(p: Params): number {
  const n = param(p, "limit");
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0)
    throw new Error(`fake couchbase: LIMIT must be a non-negative integer, got ${JSON.stringify(n)}`);
  return n;
}

const where = <R>(rows: R[], cond: (row: R) => Tri): R[] => rows.filter((r) => cond(r) === true);

/** `ANY u IN r.member_ids SATISFIES u = $user END`. */
const hasMember = (room: unknown, user: unknown): Tri => anyIn(path(room, "member_ids"), (u) => eq(u, user));

/** `(x < $after_at OR (x = $after_at AND id < $after_id))`: the keyset after a page's last row. */
const after = (at: unknown, id: unknown, afterAt: unknown, afterId: unknown): Tri =>
  or(lt(at, afterAt), and(eq(at, afterAt), lt(id, afterId)));

// --- The statements, one twin each (see couchbase.queries.ts for the SQL++) ---------------------

type Implementation = (db: Keyspaces, p: Params) => unknown[];

const IMPLEMENTATIONS: Record<QueryName, Implementation> = {
  roomsForUser(db, p) {
    const [user, afterAt, afterId, limit] = [
      param(p, "user"),
      param(p, "after_at"),
      param(p, "after_id"),
      limitOf(p),
    ];
    const rows = where(db.scan("rooms"), (r) =>
      and(hasMember(r, user), after(path(r, "last_activity_at"), path(r, "id"), afterAt, afterId)),
    );
    const sorted = orderBy(
      rows,
      { key: (r) => path(r, "last_activity_at"), desc: true },
      { key: (r) => path(r, "id"), desc: true },
    );
    return raw(sorted.slice(0, limit));
  },

  membershipsOf(db, p) {
    const user = param(p, "user");
    return where(db.scan("rooms"), (r) => hasMember(r, user)).map((r) =>
      project({
        id: path(r, "id"),
        type: path(r, "type"),
        last_seq: path(r, "last_seq"),
        member_ids: path(r, "member_ids"),
        me: firstIn(path(r, "members"), (m) => eq(path(m, "user_id"), user)),
      }),
    );
  },

  shareRoom(db, p) {
    const [a, b] = [param(p, "a"), param(p, "b")];
    const rows = where(db.scan("rooms"), (r) => and(hasMember(r, a), hasMember(r, b)));
    return raw(rows.slice(0, 1).map((r) => path(r, "id")));
  },

  messagesBefore(db, p) {
    const [room, before, limit] = [param(p, "room"), param(p, "before"), limitOf(p)];
    const rows = where(db.scan("messages"), (m) =>
      and(eq(path(m, "room_id"), room), lt(path(m, "seq"), before)),
    );
    return raw(orderBy(rows, { key: (m) => path(m, "seq"), desc: true }).slice(0, limit));
  },

  messagesAfter(db, p) {
    const [room, afterSeq, before, limit] = [
      param(p, "room"),
      param(p, "after"),
      param(p, "before"),
      limitOf(p),
    ];
    const rows = where(db.scan("messages"), (m) =>
      and(eq(path(m, "room_id"), room), gt(path(m, "seq"), afterSeq), lt(path(m, "seq"), before)),
    );
    return raw(orderBy(rows, { key: (m) => path(m, "seq") }).slice(0, limit));
  },

  roomMaxima(db, p) {
    const room = param(p, "room");
    const inRoom = (c: CollectionName) => where(db.scan(c), (d) => eq(path(d, "room_id"), room));
    // `(SELECT RAW MAX(...) ...)[0]`: an aggregate over no rows is one NULL, so each field is
    // NULL (present in the row), never MISSING.
    return [
      project({
        seq: max(inRoom("messages").map((m) => path(m, "seq"))),
        message_rev: max(inRoom("messages").map((m) => path(m, "rev"))),
        state_rev: max(inRoom("message_state").map((s) => path(s, "rev"))),
      }),
    ];
  },

  systemSeqs(db, p) {
    const rooms = param(p, "rooms");
    return where(db.scan("messages"), (m) =>
      and(eq(path(m, "type"), "system"), inArray(path(m, "room_id"), rooms)),
    ).map((m) => project({ room_id: path(m, "room_id"), seq: path(m, "seq") }));
  },

  rolledBackSeqs(db, p) {
    const rooms = param(p, "rooms");
    return where(db.scan("rollbacks"), (b) => inArray(path(b, "room_id"), rooms)).map((b) =>
      project({ room_id: path(b, "room_id"), seq: path(b, "record", "seq") }),
    );
  },

  messageRevs(db, p) {
    return revsBetween(db, "messages", "id", { room_id: param(p, "room") }, p);
  },

  stateRevs(db, p) {
    return revsBetween(db, "message_state", "message_id", { room_id: param(p, "room") }, p);
  },

  rollbackRevs(db, p) {
    return revsBetween(db, "rollbacks", "message_id", { room_id: param(p, "room") }, p);
  },

  userRevs(db, p) {
    return revsBetween(
      db,
      "user_messages",
      "message_id",
      { user_id: param(p, "user"), room_id: param(p, "room") },
      p,
    );
  },

  starred(db, p) {
    const [user, afterAt, afterId, limit] = [
      param(p, "user"),
      param(p, "after_at"),
      param(p, "after_id"),
      limitOf(p),
    ];
    const rows = where(db.scan("user_messages"), (u) =>
      and(
        eq(path(u, "user_id"), user),
        eq(path(u, "star", "starred"), true),
        after(path(u, "star", "at"), path(u, "message_id"), afterAt, afterId),
      ),
    );
    const sorted = orderBy(
      rows,
      { key: (u) => path(u, "star", "at"), desc: true },
      { key: (u) => path(u, "message_id"), desc: true },
    );
    return sorted.slice(0, limit).map((u) =>
      project({
        message_id: path(u, "message_id"),
        room_id: path(u, "room_id"),
        starred_at: path(u, "star", "at"),
      }),
    );
  },

  search(db, p) {
    const [rooms, user, terms] = [param(p, "rooms"), param(p, "user"), param(p, "terms")];
    const [afterAt, afterId, limit] = [param(p, "after_at"), param(p, "after_id"), limitOf(p)];
    // LEFT JOIN message_state AS s ON KEYS m.id: s is MISSING when there is no such document.
    const joined = db.scan("messages").map((m) => ({ m, s: db.byKey("message_state", path(m, "id")) }));
    const rows = where(joined, ({ m, s }) =>
      and(
        inArray(path(m, "room_id"), rooms),
        isValued(path(m, "search_text")),
        !isValued(path(s, "deleted")),
        not(arrayContains(ifMissingOrNull(path(s, "hidden_by"), []), user)),
        everyIn(terms, (t) => contains(ifMissingOrNull(path(s, "search_text"), path(m, "search_text")), t)),
        after(path(m, "created_at"), path(m, "id"), afterAt, afterId),
      ),
    );
    const sorted = orderBy(
      rows,
      { key: ({ m }) => path(m, "created_at"), desc: true },
      { key: ({ m }) => path(m, "id"), desc: true },
    );
    return raw(sorted.slice(0, limit).map(({ m }) => m));
  },

  roomsWithAvatar(db, p) {
    const [media, limit] = [param(p, "media"), limitOf(p)];
    const rows = where(db.scan("rooms"), (r) => eq(path(r, "avatar_media_id"), media));
    const sorted = orderBy(rows, { key: (r) => path(r, "id") });
    return raw(sorted.slice(0, limit).map((r) => path(r, "id")));
  },

  mediaLinks(db, p) {
    const [media, limit] = [param(p, "media"), limitOf(p)];
    const rows = where(db.scan("media_links"), (l) => eq(path(l, "media_id"), media));
    return raw(orderBy(rows, { key: (l) => path(l, "message_id") }).slice(0, limit));
  },

  mediaLinksForMember(db, p) {
    const [media, user, limit] = [param(p, "media"), param(p, "user"), limitOf(p)];
    // JOIN rooms AS r ON KEYS l.room_id: an inner join, a link without its room yields nothing.
    const joined = db
      .scan("media_links")
      .map((l) => ({ l, r: db.byKey("rooms", path(l, "room_id")) }))
      .filter(({ r }) => r !== undefined);
    const rows = where(joined, ({ l, r }) => and(eq(path(l, "media_id"), media), hasMember(r, user)));
    return raw(
      orderBy(rows, { key: ({ l }) => path(l, "message_id") })
        .slice(0, limit)
        .map(({ l }) => l),
    );
  },
};

/**
 * `SELECT RAW [d.<id>, d.rev] FROM <collection> AS d WHERE d.<field> = $<param> ...
 *  AND d.rev > $after AND d.rev <= $upto ORDER BY d.rev LIMIT $limit`
 * (messageRevs, stateRevs, rollbackRevs, userRevs differ only in these). Rows of one rev come
 * in key order, as from the index (its entries end with the document key).
 */
function revsBetween(
  db: Keyspaces,
  collection: CollectionName,
  idField: string,
  match: Record<string, unknown>,
  p: Params,
): unknown[] {
  const [afterRev, upto, limit] = [param(p, "after"), param(p, "upto"), limitOf(p)];
  const rows = where(db.scan(collection), (d) =>
    and(
      ...Object.entries(match).map(([f, v]) => eq(path(d, f), v)),
      gt(path(d, "rev"), afterRev),
      compare(path(d, "rev"), upto, (c) => c <= 0),
    ),
  );
  return orderBy(rows, { key: (d) => path(d, "rev") })
    .slice(0, limit)
    .map((d) => array(path(d, idField), path(d, "rev")));
}
