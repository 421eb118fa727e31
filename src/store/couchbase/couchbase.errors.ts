import couchbase from "couchbase";
import { StoreUnavailableError } from "../store.ts";

/**
 * What the adapter does with an SDK error. Document-level outcomes (exists, not found, CAS
 * mismatch) are handled where they mean something (insert-if-absent, null, retry); everything
 * else passes through here.
 *
 * - Timeouts, a service or node not answering, temporary failures: StoreUnavailableError (the
 *   API answers 503, a job is retried). An ambiguous timeout on a write may have applied it:
 *   every write of this adapter is idempotent (insert-if-absent, max-merges, CAS loops that
 *   re-read), so a retry of the whole call is safe and is what the caller does.
 * - A missing index or collection is a deployment mistake: it says to run `npm run couchbase:init`.
 * - Anything else is a bug or bad data: rethrown as is.
 */
export function storeError(err: unknown, what: string): Error {
  if (
    err instanceof couchbase.AmbiguousTimeoutError ||
    err instanceof couchbase.UnambiguousTimeoutError ||
    err instanceof couchbase.TimeoutError ||
    err instanceof couchbase.RequestCanceledError ||
    err instanceof couchbase.ServiceNotAvailableError ||
    err instanceof couchbase.TemporaryFailureError ||
    err instanceof couchbase.DocumentLockedError ||
    err instanceof couchbase.RateLimitedError ||
    err instanceof couchbase.ClusterClosedError ||
    err instanceof couchbase.ConnectionClosedError ||
    err instanceof couchbase.DurabilityAmbiguousError ||
    err instanceof couchbase.DurableWriteInProgressError ||
    err instanceof couchbase.IndexNotReadyError
  ) {
    const ambiguous =
      err instanceof couchbase.AmbiguousTimeoutError || err instanceof couchbase.DurabilityAmbiguousError;
    return new StoreUnavailableError(
      `couchbase: ${what}: ${ambiguous ? "no answer (the write may have applied; retrying is safe)" : err.message}`,
      { cause: err },
    );
  }
  if (
    err instanceof couchbase.IndexNotFoundError ||
    err instanceof couchbase.CollectionNotFoundError ||
    err instanceof couchbase.ScopeNotFoundError ||
    // SQL++ 4000 "No index available" arrives as a planning failure, 12003 "Keyspace not found" as an index failure.
    err instanceof couchbase.PlanningFailureError ||
    isKeyspaceMissing(err)
  ) {
    const why = err instanceof Error ? err.message : String(err);
    return new Error(`couchbase: ${what}: ${why} (run \`npm run couchbase:init\`)`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export const isNotFound = (err: unknown): boolean => err instanceof couchbase.DocumentNotFoundError;
export const isExists = (err: unknown): boolean => err instanceof couchbase.DocumentExistsError;
export const isCasMismatch = (err: unknown): boolean => err instanceof couchbase.CasMismatchError;

/** SQL++ 12003: the query service does not know the collection (missing, or created a moment ago). */
export function isKeyspaceMissing(err: unknown): boolean {
  if (!(err instanceof couchbase.IndexFailureError)) return false;
  const context = err.context;
  const body = context && "http_response_body" in context ? String(context.http_response_body) : "";
  const cause = err.cause instanceof Error ? err.cause.message : "";
  return /12003|[Kk]eyspace not found/.test(`${body} ${err.message} ${cause}`);
}
