import { createWriteStream } from "node:fs";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { attachment } from "./content-disposition.ts";
import type { DownloadOptions, MediaStorage } from "./media-storage.ts";
import { ObjectMissingError, StorageUnavailableError } from "./media-storage.ts";

export type S3StorageConfig = {
  endpoint?: string | undefined;
  region: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  forcePathStyle: boolean;
  /** A public CDN base for downloads (unguessable keys, no expiry) instead of signed URLs. */
  publicUrl?: string | undefined;
};

const status = (err: unknown) =>
  (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
const isMissing = (err: unknown) =>
  status(err) === 404 || ["NotFound", "NoSuchKey"].includes((err as Error)?.name ?? "");

/** Seconds from now to a date, at least 1 (the presigner's unit). */
const secondsUntil = (at: Date, from: Date = new Date()) =>
  Math.max(1, Math.ceil((at.getTime() - from.getTime()) / 1000));

/**
 * S3-compatible storage (R2, S3, MinIO). Checksums only when required: otherwise presigned PUTs
 * carry an empty-body checksum that R2 and S3 reject. Uploads are presigned PUTs with the type
 * and length signed in (R2 has no POST policies).
 */
export class S3MediaStorage implements MediaStorage {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #publicUrl: string | undefined;

  constructor(config: S3StorageConfig) {
    this.#client = new S3Client({
      region: config.region,
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      forcePathStyle: config.forcePathStyle,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    this.#bucket = config.bucket;
    this.#publicUrl = config.publicUrl?.replace(/\/+$/, "");
  }

  /** Every call: a missing object stays itself (callers decide), anything else is an outage. */
  async #call<T>(send: (client: S3Client) => Promise<T>): Promise<T> {
    try {
      return await send(this.#client);
    } catch (err) {
      if (isMissing(err)) throw err;
      throw new StorageUnavailableError(`s3: ${(err as Error).name ?? "error"}`, { cause: err });
    }
  }

  async uploadTarget(key: string, contentType: string, size: number, expiresAt: Date) {
    const command = new PutObjectCommand({
      Bucket: this.#bucket,
      Key: key,
      ContentType: contentType,
      ContentLength: size,
    });
    const url = await getSignedUrl(this.#client, command, {
      expiresIn: secondsUntil(expiresAt),
      signableHeaders: new Set(["content-type", "content-length"]),
    });
    return { url, headers: { "content-type": contentType } };
  }

  async stat(key: string): Promise<{ size: number } | null> {
    try {
      const head = await this.#call((c) => c.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: key })));
      return { size: Number(head.ContentLength ?? 0) };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async readHead(key: string, n: number): Promise<Buffer> {
    const out = await this.#call((c) =>
      c.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key, Range: `bytes=0-${n - 1}` })),
    ).catch((err: unknown) => {
      throw isMissing(err) ? new ObjectMissingError(`no object ${key}`) : err;
    });
    const bytes = await out.Body?.transformToByteArray();
    return Buffer.from(bytes ?? []).subarray(0, n);
  }

  /**
   * A server-side copy that refuses to replace `to` (`If-None-Match: *`, which S3 and R2
   * honour: a 412, or a 409 for a concurrent copy, means another copy got there first), then
   * the delete of `from`. An endpoint that ignores the condition (s3rver, some older
   * S3-compatible stores) would let a later confirm replace the object.
   */
  async placeOnce(from: string, to: string): Promise<void> {
    try {
      await this.#client.send(
        new CopyObjectCommand({
          Bucket: this.#bucket,
          Key: to,
          CopySource: `${this.#bucket}/${encodeURIComponent(from)}`,
          IfNoneMatch: "*",
        }),
      );
    } catch (err) {
      if (isMissing(err)) return;
      const code = status(err);
      if (code !== 412 && code !== 409) {
        throw new StorageUnavailableError(`s3: ${(err as Error).name ?? "error"}`, { cause: err });
      }
    }
    await this.#call((c) => c.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: from })));
  }

  async download(key: string, file: string): Promise<void> {
    const out = await this.#call((c) =>
      c.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key })),
    ).catch((err: unknown) => {
      throw isMissing(err) ? new ObjectMissingError(`no object ${key}`) : err;
    });
    if (!out.Body) throw new Error(`empty body for ${key}`);
    await pipeline(out.Body as Readable, createWriteStream(file));
  }

  async put(key: string, body: Buffer, contentType: string): Promise<void> {
    await this.#call((c) =>
      c.send(
        new PutObjectCommand({
          Bucket: this.#bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          CacheControl: "public, max-age=31536000, immutable",
        }),
      ),
    );
  }

  async delete(keys: string[]): Promise<void> {
    await Promise.all(
      keys.map((key) =>
        this.#call((c) => c.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: key }))),
      ),
    );
  }

  async downloadUrl(key: string, opts: DownloadOptions): Promise<string> {
    if (this.#publicUrl) return `${this.#publicUrl}/${key}`;
    const disposition = opts.attachmentName ? attachment(opts.attachmentName) : "inline";
    const command = new GetObjectCommand({
      Bucket: this.#bucket,
      Key: key,
      ResponseContentType: opts.contentType,
      ResponseContentDisposition: disposition,
      ResponseCacheControl: "private, max-age=3600, immutable",
    });
    return getSignedUrl(this.#client, command, {
      expiresIn: secondsUntil(opts.expiresAt, opts.signedAt),
      signingDate: opts.signedAt,
    });
  }

  /** Uploads are single PUTs: nothing half-written is ever left in the bucket. */
  async sweep(_ageMs: number): Promise<number> {
    return 0;
  }

  destroy(): void {
    this.#client.destroy();
  }
}
