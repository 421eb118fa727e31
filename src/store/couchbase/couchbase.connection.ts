import couchbase from "couchbase";
import type { Logger } from "../../observability/logger.ts";
import { type Store, StoreUnavailableError } from "../store.ts";
import { storeError } from "./couchbase.errors.ts";
import { COLLECTIONS } from "./couchbase.layout.ts";
import { createCouchbaseStore } from "./couchbase.store.ts";

export type CouchbaseSettings = {
  connStr: string;
  username: string;
  password: string;
  bucket: string;
  scope: string;
  bootstrapTimeoutMs: number;
  kvTimeoutMs: number;
  queryTimeoutMs: number;
};

/** Thrown at start when the cluster cannot be reached or is not set up: the process says why and exits. */
class CouchbaseUnreachableError extends Error {}

/** Connects, fails fast (bootstrap timeout) with what to check, and opens the scope's collections. */
export async function connectCouchbase(s: CouchbaseSettings, logger: Logger): Promise<Couchbase> {
  let cluster: couchbase.Cluster;
  try {
    cluster = await couchbase.connect(s.connStr, {
      username: s.username,
      password: s.password,
      timeouts: {
        bootstrapTimeout: s.bootstrapTimeoutMs,
        kvTimeout: s.kvTimeoutMs,
        queryTimeout: s.queryTimeoutMs,
      },
    });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CouchbaseUnreachableError(
      `Couchbase at ${redact(s.connStr)} (bucket ${s.bucket}) not reachable within ${s.bootstrapTimeoutMs} ms: ${why}. ` +
        "Check COUCHBASE_CONNSTR, COUCHBASE_USERNAME/COUCHBASE_PASSWORD and COUCHBASE_BUCKET, and run `npm run couchbase:init` once.",
    );
  }
  logger.info({ bucket: s.bucket, scope: s.scope }, "couchbase connected");
  return new Couchbase(cluster, s);
}

/** A connection string never carries credentials here, but may carry options: show host part only. */
function redact(connStr: string): string {
  return connStr.replace(/\?.*$/, "");
}

/** One cluster connection and the scope the adapter works in. */
export class Couchbase {
  readonly cluster: couchbase.Cluster;
  readonly bucket: couchbase.Bucket;
  readonly scope: couchbase.Scope;
  constructor(cluster: couchbase.Cluster, s: CouchbaseSettings) {
    this.cluster = cluster;
    this.bucket = cluster.bucket(s.bucket);
    this.scope = this.bucket.scope(s.scope);
  }

  store(): Store {
    return createCouchbaseStore(
      { collection: (name) => this.scope.collection(name), scope: this.scope },
      { ping: () => this.ping(), close: () => this.cluster.close() },
    );
  }

  /** Readiness: the KV and query services answer (a ping reports each endpoint; it throws for none). */
  async ping(): Promise<void> {
    let result: couchbase.PingResult;
    try {
      result = await this.bucket.ping({
        serviceTypes: [couchbase.ServiceType.KeyValue, couchbase.ServiceType.Query],
      });
    } catch (err) {
      throw storeError(err, "ping");
    }
    const down = pingProblems(result.services);
    if (down.length > 0) throw new StoreUnavailableError(`couchbase: not ready: ${down.join("; ")}`);
  }

  /** The collections that are missing from the scope (start refuses until init created them). */
  async missingCollections(): Promise<string[]> {
    try {
      const scopes = await this.bucket.collections().getAllScopes();
      const have = new Set(
        scopes.find((x) => x.name === this.scope.name)?.collections.map((c) => c.name) ?? [],
      );
      return COLLECTIONS.filter((c) => !have.has(c));
    } catch (err) {
      throw new StoreUnavailableError(`couchbase: listing collections: ${String(err)}`, { cause: err });
    }
  }
}

/** What a ping found wrong: a service with no endpoint answering, or an endpoint that failed. */
export function pingProblems(
  services: Record<string, { state: couchbase.PingState; remote?: string }[]>,
): string[] {
  const problems: string[] = [];
  for (const wanted of [couchbase.ServiceType.KeyValue, couchbase.ServiceType.Query]) {
    const endpoints = services[wanted] ?? [];
    if (endpoints.length === 0) problems.push(`${wanted}: no endpoint`);
    for (const e of endpoints) {
      if (e.state !== couchbase.PingState.Ok)
        problems.push(`${wanted} ${e.remote ?? "?"}: ${couchbase.PingState[e.state]}`);
    }
  }
  return problems;
}
