import { setTimeout as sleep } from "node:timers/promises";
import type { Cas, QueryOptions } from "couchbase";
import { QueryScanConsistency } from "couchbase";
import { StoreUnavailableError } from "../store.ts";
import { isCasMismatch, isExists, isNotFound, storeError } from "./couchbase.errors.ts";
import { QUERIES, type QueryName } from "./couchbase.queries.ts";

/** The part of the SDK's Collection the adapter uses (tests pass a fake of it). */
export interface KvCollection {
  get(key: string): Promise<{ content: unknown; cas: Cas }>;
  insert(key: string, value: unknown): Promise<{ cas: Cas }>;
  replace(key: string, value: unknown, options: { cas: Cas }): Promise<{ cas: Cas }>;
  upsert(key: string, value: unknown): Promise<{ cas: Cas }>;
  remove(key: string, options?: { cas: Cas }): Promise<unknown>;
}

/** The part of the SDK's Scope the adapter uses: SQL++ with the scope as query context. */
export interface QueryScope {
  query(statement: string, options: QueryOptions): Promise<{ rows: unknown[] }>;
}

/** A CAS loop gives up after this many lost races (then the call is retried as a whole). */
const MAX_CAS_ATTEMPTS = 64;
/** What a CAS step returns when another writer got in first. */
const LOST = Symbol("lost a CAS race");

/**
 * One collection, by key. Reads of a missing document are null; insert-if-absent answers
 * false when the key is taken; `update` is a CAS loop (read, compute, write only if nobody
 * wrote in between), so every read-modify-write of one document is atomic.
 */
export class Kv<T> {
  readonly #c: KvCollection;
  readonly #name: string;
  constructor(collection: KvCollection, name: string) {
    this.#c = collection;
    this.#name = name;
  }

  async get(key: string): Promise<{ value: T; cas: Cas } | null> {
    try {
      const res = await this.#c.get(key);
      return { value: res.content as T, cas: res.cas };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw storeError(err, `get ${this.#name}`);
    }
  }

  async value(key: string): Promise<T | null> {
    return (await this.get(key))?.value ?? null;
  }

  /** The documents that exist of these keys. */
  async many(keys: Iterable<string>): Promise<Map<string, T>> {
    const unique = [...new Set(keys)];
    const found = await Promise.all(unique.map(async (k) => [k, await this.value(k)] as const));
    const out = new Map<string, T>();
    for (const [k, v] of found) if (v !== null) out.set(k, v);
    return out;
  }

  /** Insert-if-absent: false (nothing written) when the key exists. */
  async insert(key: string, value: T): Promise<boolean> {
    try {
      await this.#c.insert(key, value);
      return true;
    } catch (err) {
      if (isExists(err)) return false;
      throw storeError(err, `insert ${this.#name}`);
    }
  }

  async upsert(key: string, value: T): Promise<void> {
    try {
      await this.#c.upsert(key, value);
    } catch (err) {
      throw storeError(err, `upsert ${this.#name}`);
    }
  }

  /** Removes it; false when there was nothing to remove. */
  async remove(key: string): Promise<boolean> {
    try {
      await this.#c.remove(key);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw storeError(err, `remove ${this.#name}`);
    }
  }

  /**
   * Removes it only while `test` holds for it: the remove carries the CAS of the read, so a
   * write in between (another owner's claim) is re-checked, never erased. False when nothing
   * was removed.
   */
  removeIf(key: string, test: (current: T) => boolean): Promise<boolean> {
    return this.#untilWon(key, async () => {
      const current = await this.get(key);
      if (!current || !test(current.value)) return false;
      try {
        await this.#c.remove(key, { cas: current.cas });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        if (isCasMismatch(err)) return LOST;
        throw storeError(err, `remove ${this.#name}`);
      }
    });
  }

  /**
   * Read-modify-write of one document. `change` gets the current document (null if none) and
   * returns the next one, or undefined to leave it as it is. A concurrent write in between
   * (CAS mismatch, a racing insert or remove) re-runs `change` on the fresh document.
   * Returns the document as it now is and whether this call wrote it.
   */
  update(
    key: string,
    change: (current: T | null) => T | undefined,
  ): Promise<{ value: T | null; changed: boolean }> {
    return this.#untilWon(key, async () => {
      const current = await this.get(key);
      const next = change(current ? structuredClone(current.value) : null);
      if (next === undefined) return { value: current?.value ?? null, changed: false };
      try {
        if (current) await this.#c.replace(key, next, { cas: current.cas });
        else await this.#c.insert(key, next);
        return { value: next, changed: true };
      } catch (err) {
        if (isCasMismatch(err) || isExists(err) || isNotFound(err)) return LOST;
        throw storeError(err, `write ${this.#name}`);
      }
    });
  }

  /** Runs a read-then-conditional-write step until it does not lose a race (bounded). */
  async #untilWon<R>(key: string, step: () => Promise<R | typeof LOST>): Promise<R> {
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const out = await step();
      if (out !== LOST) return out;
      // Lost a race: back off a little (more each time) and start again from a fresh read.
      await sleep(Math.min(50, attempt * 2) * Math.random());
    }
    throw new StoreUnavailableError(`couchbase: ${this.#name} ${key}: too contended, try again`);
  }
}

/** SQL++ with named parameters only (never user input in the text), seeing every write made before it. */
export class Query {
  readonly #scope: QueryScope;
  constructor(scope: QueryScope) {
    this.#scope = scope;
  }

  async rows<R>(name: QueryName, parameters: Record<string, unknown>): Promise<R[]> {
    try {
      const res = await this.#scope.query(QUERIES[name], {
        parameters,
        scanConsistency: QueryScanConsistency.RequestPlus,
        clientContextId: name,
      });
      return res.rows as R[];
    } catch (err) {
      throw storeError(err, `query ${name}`);
    }
  }
}
