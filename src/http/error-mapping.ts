import { AppError } from "../kernel/errors.ts";
import { StorageFullError, StorageUnavailableError } from "../media-storage/media-storage.ts";
import { isRedisUnavailable } from "../redis/redis-errors.ts";
import { StoreUnavailableError } from "../store/store.ts";

/**
 * Maps what a service or adapter threw to the domain error both transports render: by error
 * type, so a bug while Redis is reconnecting is still a 500 and a store outage is a 503.
 */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof StoreUnavailableError) {
    return new AppError("unavailable", "the store is unavailable; retry shortly", undefined, err.retryAfterS);
  }
  if (err instanceof StorageFullError) {
    return new AppError("unavailable", "media storage is full; retry later", undefined, 30);
  }
  if (err instanceof StorageUnavailableError) {
    return new AppError("unavailable", "media storage is unavailable; retry shortly", undefined, 5);
  }
  if (isRedisUnavailable(err))
    return new AppError("unavailable", "a dependency is unavailable; retry shortly", undefined, 1);
  return new AppError("internal", "internal error");
}
