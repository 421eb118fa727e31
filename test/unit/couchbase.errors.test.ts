import couchbase, { type Cas, type QueryOptions } from "couchbase";
import { describe, expect, it } from "vitest";
import { pingProblems } from "../../src/store/couchbase/couchbase.connection.ts";
import { storeError } from "../../src/store/couchbase/couchbase.errors.ts";
import { Kv, type KvCollection, Query } from "../../src/store/couchbase/couchbase.kv.ts";
import { keys } from "../../src/store/couchbase/couchbase.layout.ts";
import { StoreRejectedError, StoreUnavailableError } from "../../src/store/store.ts";

/** A one-document collection that fails as told: the SDK's errors at the Collection boundary. */
class ScriptedCollection implements KvCollection {
  doc: { content: unknown; cas: number } | null = null;
  /** Errors thrown by the next calls of each operation, in order. */
  failures: Partial<Record<"get" | "insert" | "replace" | "upsert" | "remove", Error[]>> = {};
  /** Runs before each replace (to let another writer in between, as a race would). */
  beforeReplace: (() => void) | null = null;
  calls: string[] = [];
  #cas = 1;

  #fail(op: keyof ScriptedCollection["failures"]): void {
    this.calls.push(op);
    const err = this.failures[op]?.shift();
    if (err) throw err;
  }
  #cas_(): Cas {
    const n = this.#cas++;
    return { toString: () => String(n), toJSON: () => n };
  }
  write(content: unknown): void {
    this.doc = { content: structuredClone(content), cas: this.#cas++ };
  }
  async get() {
    this.#fail("get");
    if (!this.doc) throw new couchbase.DocumentNotFoundError();
    const cas = this.doc.cas;
    return {
      content: structuredClone(this.doc.content),
      cas: { toString: () => String(cas), toJSON: () => cas },
    };
  }
  async insert(_key: string, value: unknown) {
    this.#fail("insert");
    if (this.doc) throw new couchbase.DocumentExistsError();
    this.write(value);
    return { cas: this.#cas_() };
  }
  async replace(_key: string, value: unknown, options: { cas: Cas }) {
    this.beforeReplace?.();
    this.#fail("replace");
    if (!this.doc) throw new couchbase.DocumentNotFoundError();
    if (String(this.doc.cas) !== options.cas.toString()) throw new couchbase.CasMismatchError();
    this.write(value);
    return { cas: this.#cas_() };
  }
  async upsert(_key: string, value: unknown) {
    this.#fail("upsert");
    this.write(value);
    return { cas: this.#cas_() };
  }
  async remove() {
    this.#fail("remove");
    if (!this.doc) throw new couchbase.DocumentNotFoundError();
    this.doc = null;
    return {};
  }
}

type Counter = { n: number };
const bump = (doc: Counter | null): Counter => ({ n: (doc?.n ?? 0) + 1 });

describe("couchbase error mapping", () => {
  it("turns timeouts and unavailable services into StoreUnavailableError (503, job retried)", () => {
    for (const err of [
      new couchbase.UnambiguousTimeoutError(),
      new couchbase.TemporaryFailureError(),
      new couchbase.ServiceNotAvailableError(),
      new couchbase.RequestCanceledError(),
      new couchbase.DocumentLockedError(),
    ]) {
      const mapped = storeError(err, "get rooms");
      expect(mapped, err.constructor.name).toBeInstanceOf(StoreUnavailableError);
      expect(mapped.cause).toBe(err);
    }
  });

  it("says an ambiguous timeout on a write may have applied it, and that retrying is safe", () => {
    const mapped = storeError(new couchbase.AmbiguousTimeoutError(), "insert messages");
    expect(mapped).toBeInstanceOf(StoreUnavailableError);
    expect(mapped.message).toMatch(/may have applied.*retrying is safe/);
  });

  it("names couchbase:init for a missing index or collection, and rethrows anything else as is", () => {
    expect(storeError(new couchbase.IndexNotFoundError(), "query search").message).toMatch(
      /npm run couchbase:init/,
    );
    expect(storeError(new couchbase.CollectionNotFoundError(), "get rooms").message).toMatch(
      /couchbase:init/,
    );
    // SQL++ 4000 (no index for the query) and 12003 (unknown collection) come as other classes.
    expect(storeError(new couchbase.PlanningFailureError(), "query roomsForUser").message).toMatch(
      /couchbase:init/,
    );
    const keyspace = new couchbase.IndexFailureError(new Error("12003 Keyspace not found in CB datastore"));
    expect(storeError(keyspace, "query search").message).toMatch(/couchbase:init/);
    const parse = new couchbase.ParsingFailureError();
    expect(storeError(parse, "query x")).toBe(parse);
  });
});

describe("Kv over the SDK's Collection", () => {
  it("reads a missing document as null, and insert-if-absent as false when it exists", async () => {
    const c = new ScriptedCollection();
    const kv = new Kv<Counter>(c, "t");
    expect(await kv.get("k")).toBeNull();
    expect(await kv.insert("k", { n: 1 })).toBe(true);
    expect(await kv.insert("k", { n: 2 })).toBe(false);
    expect(await kv.value("k")).toEqual({ n: 1 });
    expect(await kv.remove("k")).toBe(true);
    expect(await kv.remove("k")).toBe(false);
  });

  it("recomputes on the fresh document when another writer got in between (CAS mismatch)", async () => {
    const c = new ScriptedCollection();
    c.write({ n: 10 });
    const kv = new Kv<Counter>(c, "t");
    let raced = false;
    // Another process writes between our read and our replace, once.
    c.beforeReplace = () => {
      if (raced) return;
      raced = true;
      c.write({ n: 100 });
    };
    const seen: number[] = [];
    const res = await kv.update("k", (doc) => {
      seen.push(doc?.n ?? 0);
      return bump(doc);
    });
    expect(seen).toEqual([10, 100]);
    expect(res).toEqual({ value: { n: 101 }, changed: true });
    expect(c.doc?.content).toEqual({ n: 101 });
  });

  it("retries an insert that lost the race to create, as a replace of the winner's document", async () => {
    const c = new ScriptedCollection();
    const kv = new Kv<Counter>(c, "t");
    const original = c.insert.bind(c);
    c.insert = async (key, value) => {
      if (!c.doc && c.calls.filter((x) => x === "insert").length === 0) c.write({ n: 5 }); // the winner
      return original(key, value);
    };
    const res = await kv.update("k", bump);
    expect(res.value).toEqual({ n: 6 });
    expect(c.calls).toEqual(["get", "insert", "get", "replace"]);
  });

  it("gives up on a document too contended, as unavailable (the caller retries later)", async () => {
    const c = new ScriptedCollection();
    c.write({ n: 0 });
    c.beforeReplace = () => c.write({ n: 0 });
    await expect(new Kv<Counter>(c, "t").update("k", bump)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it("maps timeouts on reads and writes, and leaves nothing half-done in the loop", async () => {
    const c = new ScriptedCollection();
    c.write({ n: 1 });
    const kv = new Kv<Counter>(c, "t");
    c.failures.get = [new couchbase.UnambiguousTimeoutError()];
    await expect(kv.get("k")).rejects.toBeInstanceOf(StoreUnavailableError);
    c.failures.replace = [new couchbase.AmbiguousTimeoutError()];
    await expect(kv.update("k", bump)).rejects.toThrow(/may have applied/);
    c.failures.insert = [new couchbase.TemporaryFailureError()];
    await expect(kv.insert("j", { n: 1 })).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it("a change that leaves the document as it is writes nothing", async () => {
    const c = new ScriptedCollection();
    c.write({ n: 3 });
    const res = await new Kv<Counter>(c, "t").update("k", () => undefined);
    expect(res).toEqual({ value: { n: 3 }, changed: false });
    expect(c.calls).toEqual(["get"]);
  });
});

describe("Query over the SDK's Scope", () => {
  it("runs the named statement with RequestPlus and named parameters, and maps its timeout", async () => {
    const seen: { statement: string; options: QueryOptions }[] = [];
    let fail: Error | null = null;
    const q = new Query({
      query: async (statement, options) => {
        seen.push({ statement, options });
        if (fail) throw fail;
        return { rows: [["m1", 3]] };
      },
    });
    expect(await q.rows("messageRevs", { room: "R", after: 2 })).toEqual([["m1", 3]]);
    expect(seen[0]?.statement).toMatch(/FROM messages AS m WHERE m\.room_id = \$room AND m\.rev > \$after/);
    expect(seen[0]?.options).toMatchObject({
      parameters: { room: "R", after: 2 },
      scanConsistency: couchbase.QueryScanConsistency.RequestPlus,
      clientContextId: "messageRevs",
    });
    fail = new couchbase.UnambiguousTimeoutError();
    await expect(q.rows("messageRevs", { room: "R", after: 2 })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
  });
});

describe("readiness from a ping report", () => {
  it("is ready only when every KV and query endpoint answered", () => {
    const ok = { state: couchbase.PingState.Ok, remote: "cb1:11210" };
    expect(pingProblems({ kv: [ok], query: [{ ...ok, remote: "cb1:8093" }] })).toEqual([]);
    expect(
      pingProblems({ kv: [ok, { state: couchbase.PingState.Timeout, remote: "cb2:11210" }], query: [ok] }),
    ).toEqual(["kv cb2:11210: Timeout"]);
    expect(pingProblems({ kv: [ok] })).toEqual(["query: no endpoint"]);
  });
});

describe("document keys", () => {
  it("are built from ids only: a part that could pass for a separator or another family is refused", () => {
    expect(keys.member("01JD8X6V9Q3M5R7T9W1Y3A5C7E", "alice")).toBe("01JD8X6V9Q3M5R7T9W1Y3A5C7E|alice");
    expect(keys.pair("zed", "amy")).toBe("amy|zed");
    for (const bad of ["a|b", "", "x".repeat(65), "seq|R|1", "a b", "é"]) {
      expect(() => keys.member("R", bad), bad).toThrow(StoreRejectedError);
      expect(() => keys.clientId("R", "u", bad), bad).toThrow(StoreRejectedError);
    }
    // Push tokens are free text: hashed, so any token is one fixed-size key.
    expect(keys.pushToken("tok|en with spaces")).toMatch(/^[0-9a-f]{64}$/);
  });
});
