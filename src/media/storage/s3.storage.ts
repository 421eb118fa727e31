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
    );
    const bytes = await out.Body?.transformToByteArray();
    return Buffer.from(bytes ?? []).subarray(0, n);
  }

  async move(from: string, to: string): Promise<void> {
    try {
      await this.#call((c) =>
        c.send(
          new CopyObjectCommand({
            Bucket: this.#bucket,
            Key: to,
            CopySource: `${this.#bucket}/${encodeURIComponent(from)}`,
          }),
        ),
      );
    } catch (err) {
      if (isMissing(err)) throw new ObjectMissingError(`no object ${from}`);
      throw err;
    }
    await this.#call((c) => c.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: from })));
  }

  async download(key: string, file: string): Promise<void> {
    const out = await this.#call((c) => c.send(new GetObjectCommand({ Bucket: this.#bucket, Key: key })));
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
    const disposition = opts.attachmentName
      ? `attachment; filename*=UTF-8''${encodeURIComponent(opts.attachmentName)}`
      : "inline";
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

  destroy(): void {
    this.#client.destroy();
  }
}
