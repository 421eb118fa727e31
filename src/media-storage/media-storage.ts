import { randomBytes } from "node:crypto";

/**
 * Where media bytes live. Two drivers: `local` (files under DATA_DIR/media, served by the API
 * at HMAC-signed URLs) and `s3` (any S3-compatible endpoint: R2, S3, MinIO). Clients upload
 * and download straight to and from the driver's URLs; the API and the media pool only move,
 * inspect and delete objects.
 */
export interface MediaStorage {
  /** A URL that accepts one PUT of exactly this type, of at most `size` bytes, until `expiresAt`. */
  uploadTarget(
    key: string,
    contentType: string,
    size: number,
    expiresAt: Date,
  ): Promise<{ url: string; headers: Record<string, string> }>;
  /** The object's size, or null when there is none. */
  stat(key: string): Promise<{ size: number } | null>;
  /** Its first `n` bytes (fewer for a smaller object). ObjectMissingError when there is none. */
  readHead(key: string, n: number): Promise<Buffer>;
  /**
   * Moves `from` to `to` unless an object is already at `to`, which is never replaced: the
   * first object to reach `to` is the only one it ever holds (`from` is then deleted). Nothing
   * happens when `from` is missing. No URL can write `to`, so a check of `to` stays true.
   */
  placeOnce(from: string, to: string): Promise<void>;
  /** Copies the object into a local file (the media pool works on files). ObjectMissingError when there is none. */
  download(key: string, file: string): Promise<void>;
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  /** Deletes objects; a missing one is not an error. */
  delete(keys: string[]): Promise<void>;
  /** A URL that GETs the object without a token, until `expiresAt`. */
  downloadUrl(key: string, opts: DownloadOptions): Promise<string>;
  /** Removes what interrupted writes left behind (temporary files) older than `ageMs`. */
  sweep(ageMs: number): Promise<number>;
}

export type DownloadOptions = {
  contentType: string;
  /** When the URL's validity starts (a grid point, so repeated asks give the same URL). */
  signedAt: Date;
  expiresAt: Date;
  /** Served as an attachment with this name (documents); inline when absent (images, video, audio). */
  attachmentName?: string | undefined;
};

export class ObjectMissingError extends Error {}

/** Storage cannot serve now (network, 5xx, disk full, I/O): the API answers 503, a job retries. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Storage has too little free space for the write (the local driver's floor, or ENOSPC): 503. */
export class StorageFullError extends StorageUnavailableError {}

/**
 * Object keys: made by the server, one random 128-bit token each (unguessable), in one flat
 * charset no path or URL can misread. `up` is what the upload URL writes; `ob` the checked
 * original; `th` the thumbnail. All three are fixed when the upload starts, so every step
 * (confirm, a retried job) writes the same keys and leaves nothing behind.
 */
export const OBJECT_KEY_PATTERN = /^(up|ob|th)-[0-9A-HJKMNP-TV-Z]{26}-[A-Za-z0-9_-]{22}$/;

export function newObjectKeys(mediaId: string): { upload: string; object: string } {
  const token = () => randomBytes(16).toString("base64url");
  return { upload: `up-${mediaId}-${token()}`, object: `ob-${mediaId}-${token()}` };
}

/** The thumbnail's key follows from the original's: a retried job overwrites, never adds. */
export const thumbKeyOf = (objectKey: string) => `th-${objectKey.slice(3)}`;

/**
 * Download URLs expire on a grid (between one and two TTLs from now), so the same media gets
 * the same URL for a while and clients' caches work.
 */
export function gridExpiry(nowMs: number, ttlS: number): { signedAt: Date; expiresAt: Date } {
  const step = ttlS * 1000;
  const start = Math.floor(nowMs / step) * step;
  return { signedAt: new Date(start), expiresAt: new Date(start + 2 * step) };
}
