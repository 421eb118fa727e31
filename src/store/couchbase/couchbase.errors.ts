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
    err instanceof couchbase.ScopeNotFoundError
  ) {
    return new Error(`couchbase: ${what}: ${err.message} (run \`npm run couchbase:init\`)`, { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export const isNotFound = (err: unknown): boolean => err instanceof couchbase.DocumentNotFoundError;
export const isExists = (err: unknown): boolean => err instanceof couchbase.DocumentExistsError;
export const isCasMismatch = (err: unknown): boolean => err instanceof couchbase.CasMismatchError;
