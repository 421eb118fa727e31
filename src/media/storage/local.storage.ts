import { randomBytes } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, link, mkdir, open, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { DownloadOptions, MediaStorage } from "./media-storage.ts";
import { OBJECT_KEY_PATTERN, ObjectMissingError, StorageUnavailableError } from "./media-storage.ts";
import type { UrlSigner } from "./url-signer.ts";

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === "ENOENT";

/** An I/O failure (disk full, read-only, EIO) is an outage of the storage, not a bug. */
async function io<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException)?.code;
    if (code && code !== "ENOENT" && /^E[A-Z]+$/.test(code)) {
      throw new StorageUnavailableError(`local media storage: ${code}`, { cause: err });
    }
    throw err;
  }
}

/** Thrown while writing an upload that outgrew its signed size. */
export class UploadTooLargeError extends Error {}

/**
 * The embedded driver: one file per object under DATA_DIR/media. Uploads and downloads go
 * through the API's own routes (local-files.routes.ts) at URLs signed by UrlSigner. Writes go to
 * a temporary name first and are renamed into place, so a half-written upload never exists
 * under its key.
 */
export class LocalMediaStorage implements MediaStorage {
  readonly root: string;
  readonly #signer: UrlSigner;

  constructor(root: string, signer: UrlSigner) {
    this.root = root;
    this.#signer = signer;
  }

  /** The file of a key; keys are checked by their exact format, so no key can leave the root. */
  file(key: string): string {
    if (!OBJECT_KEY_PATTERN.test(key)) throw new Error("invalid object key");
    return path.join(this.root, key);
  }

  async uploadTarget(key: string, contentType: string, size: number, expiresAt: Date) {
    this.file(key);
    const url = this.#signer.url({
      method: "PUT",
      key,
      exp: Math.floor(expiresAt.getTime() / 1000),
      contentType,
      maxSize: size,
    });
    return { url, headers: { "content-type": contentType } };
  }

  async stat(key: string): Promise<{ size: number } | null> {
    const file = this.file(key);
    return io(async () => {
      try {
        return { size: (await stat(file)).size };
      } catch (err) {
        if (isMissing(err)) return null;
        throw err;
      }
    });
  }

  async readHead(key: string, n: number): Promise<Buffer> {
    const file = this.file(key);
    return io(async () => {
      const handle = await open(file, "r").catch((err: unknown) => {
        throw isMissing(err) ? new ObjectMissingError(`no object ${key}`) : err;
      });
      try {
        const buf = Buffer.alloc(n);
        const { bytesRead } = await handle.read(buf, 0, n, 0);
        return buf.subarray(0, bytesRead);
      } finally {
        await handle.close();
      }
    });
  }

  async placeOnce(from: string, to: string): Promise<void> {
    const [a, b] = [this.file(from), this.file(to)];
    await io(async () => {
      // A hard link never replaces an existing name (EEXIST), and uploads are renamed into
      // place, never written in place: the inode linked is final.
      try {
        await link(a, b);
      } catch (err) {
        if (isMissing(err)) return;
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      await rm(a, { force: true });
    });
  }

  async download(key: string, file: string): Promise<void> {
    const source = this.file(key);
    // A hard link costs nothing and the object is never written in place (only renamed over),
    // so the pool's copy cannot change under it; across file systems, a copy.
    await io(async () => {
      try {
        await link(source, file).catch(() => copyFile(source, file));
      } catch (err) {
        throw isMissing(err) ? new ObjectMissingError(`no object ${key}`) : err;
      }
    });
  }

  async put(key: string, body: Buffer, _contentType: string): Promise<void> {
    const target = this.file(key);
    const tmp = this.#tmp(key);
    await io(async () => {
      await mkdir(this.root, { recursive: true });
      try {
        await writeFile(tmp, body);
        await rename(tmp, target);
      } finally {
        await rm(tmp, { force: true });
      }
    });
  }

  /** Streams a request body into place, refusing more than `maxSize` bytes. */
  async write(key: string, body: Readable, maxSize: number): Promise<number> {
    const target = this.file(key);
    await mkdir(this.root, { recursive: true });
    const tmp = this.#tmp(key);
    let written = 0;
    try {
      await pipeline(
        body,
        async function* limit(source: AsyncIterable<Buffer>) {
          for await (const chunk of source) {
            written += chunk.length;
            if (written > maxSize) throw new UploadTooLargeError(`more than ${maxSize} bytes`);
            yield chunk;
          }
        },
        createWriteStream(tmp, { flags: "wx" }),
      );
      await rename(tmp, target);
      return written;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  read(key: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.file(key), range);
  }

  async delete(keys: string[]): Promise<void> {
    const files = keys.map((k) => this.file(k));
    await io(() => Promise.all(files.map((f) => rm(f, { force: true }))));
  }

  async sweep(ageMs: number): Promise<number> {
    const before = Date.now() - ageMs;
    return io(async () => {
      const names = await readdir(this.root).catch((err: unknown) => {
        if (isMissing(err)) return [] as string[];
        throw err;
      });
      let removed = 0;
      for (const name of names) {
        if (!name.startsWith(".tmp-") && !name.startsWith(".work-")) continue;
        const full = path.join(this.root, name);
        const s = await stat(full).catch(() => null);
        if (!s || s.mtimeMs > before) continue;
        await rm(full, { recursive: true, force: true });
        removed++;
      }
      return removed;
    });
  }

  async downloadUrl(key: string, opts: DownloadOptions): Promise<string> {
    this.file(key);
    return this.#signer.url({
      method: "GET",
      key,
      exp: Math.floor(opts.expiresAt.getTime() / 1000),
      contentType: opts.contentType,
      name: opts.attachmentName,
    });
  }

  #tmp(key: string): string {
    return path.join(this.root, `.tmp-${key}-${randomBytes(6).toString("hex")}`);
  }
}
