/**
 * The contract's error codes and their HTTP statuses (docs/api.md "Errors"). No imports: the
 * web client bundles this file too, to give socket acks (which carry only the code) a status.
 */
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  /** A local upload whose body did not arrive within MEDIA_PUT_BODY_TIMEOUT_S. */
  request_timeout: 408,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** A Range past the end of a local media file (Content-Range says its size). */
  range_not_satisfiable: 416,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
