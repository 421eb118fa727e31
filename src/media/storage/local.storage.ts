import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  access,
  copyFile,
  type FileHandle,
  link,
  mkdir,
  open,
  readdir,
  rename,
  rm,
  stat,
  statfs,
  writeFile,
} from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { DownloadOptions, MediaStorage } from "./media-storage.ts";
import {
  OBJECT_KEY_PATTERN,
  ObjectMissingError,
  StorageFullError,
  StorageUnavailableError,
} from "./media-storage.ts";
import type { UrlSigner } from "./url-signer.ts";

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException)?.code === "ENOENT";

/**
 * What a failed upload pipeline means: the disk's own errors (they carry the system call) are
 * the storage's, a full disk its own kind; the body's (the client went away) and ours pass on.
 */
function writeError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "ENOSPC" || e?.code === "EDQUOT") {
    return new StorageFullError(`local media storage: ${e.code}`, { cause: err });
  }
  if (e?.syscall && e.code && /^E[A-Z]+$/.test(e.code)) {
    return new StorageUnavailableError(`local media storage: ${e.code}`, { cause: err });
  }
  return err;
}

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
/** Another PUT to the same upload URL is still sending its body. */
export class UploadInProgressError extends Error {}
/** The body did not arrive within the PUT deadline. */
export class UploadTimeoutError extends Error {}

export type LocalStorageLimits = {
  /** A PUT's body must arrive within this long (a slow body holds a temporary file). */
  putBodyTimeoutMs: number;
  /** Writes are refused while they would leave less free space than this on the media disk. */
  minFreeBytes: number;
};

/** Between the body deadline and the removal of the temporary file it cuts short. */
const CLEANUP_MARGIN_MS = 10_000;

/**
 * The embedded driver: one file per object under DATA_DIR/media. Uploads and downloads go
 * through the API's own routes (local-files.routes.ts) at URLs signed by UrlSigner. Writes go to
 * a temporary name first and are renamed into place, so a half-written upload never exists
 * under its key.
 */
export class LocalMediaStorage implements MediaStorage {
  readonly root: string;
  readonly #signer: UrlSigner;
  readonly #limits: LocalStorageLimits;

  constructor(
    root: string,
    signer: UrlSigner,
    limits: LocalStorageLimits = { putBodyTimeoutMs: 120_000, minFreeBytes: 0 },
  ) {
    this.root = root;
    this.#signer = signer;
    this.#limits = limits;
  }

  /** The file of a key; keys are checked by their exact format, so no key can leave the root. */
  file(key: string): string {
    if (!OBJECT_KEY_PATTERN.test(key)) throw new Error("invalid object key");
    return path.join(this.root, key);
  }

  async uploadTarget(key: string, contentType: string, size: number, expiresAt: Date) {
    this.file(key);
    // A URL the disk could not take is refused now rather than at its PUT.
    await this.#ensureRoom(size);
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

  /**
   * Streams a request body into place, refusing more than `maxSize` bytes, a body slower than
   * the PUT deadline, a second body for the same key while one is in flight (on any process
   * sharing the directory), and a write that would leave less than the free-space floor. The
   * body stream is only read, never destroyed: the caller can still answer on its socket.
   */
  async write(key: string, body: Readable, maxSize: number): Promise<number> {
    const target = this.file(key);
    await this.#ensureRoom(maxSize);
    const { tmp, handle } = await this.#claim(key);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      const ms = this.#limits.putBodyTimeoutMs;
      timer = setTimeout(() => reject(new UploadTimeoutError(`the body took more than ${ms} ms`)), ms);
    });
    deadline.catch(() => {});
    try {
      let written = 0;
      const chunks = async function* () {
        // Not `for await`: leaving it would destroy the body, and the deadline must win over a
        // chunk that never comes.
        const it = body.iterator({ destroyOnReturn: false });
        for (;;) {
          const next = await Promise.race([it.next(), deadline]);
          if (next.done) return;
          const chunk = next.value as Buffer;
          written += chunk.length;
          if (written > maxSize) throw new UploadTooLargeError(`more than ${maxSize} bytes`);
          yield chunk;
        }
      };
      await pipeline(chunks, handle.createWriteStream()).catch((err: unknown) => {
        throw writeError(err);
      });
      await io(() => rename(tmp, target));
      return written;
    } finally {
      clearTimeout(timer);
      await handle.close().catch(() => {});
      await rm(tmp, { force: true });
    }
  }

  /**
   * The one temporary file of a key's upload, created exclusively, named after the period of
   * its start: a PUT refuses while its own period's file or a neighbour's exists. A period is
   * longer than any PUT lasts, so an upload started in the previous period is the only one that
   * can still run; each PUT creates its file before looking at the neighbours, so of two that
   * race across a period boundary at least one sees the other. A file a killed process left
   * blocks the URL for two periods at most (the media pool's sweep removes it later).
   */
  async #claim(key: string): Promise<{ tmp: string; handle: FileHandle }> {
    await io(() => mkdir(this.root, { recursive: true }));
    const span = this.#limits.putBodyTimeoutMs + CLEANUP_MARGIN_MS;
    const period = Math.floor(Date.now() / span);
    const name = (p: number) => path.join(this.root, `.tmp-${key}-p${p}`);
    const tmp = name(period);
    const handle = await open(tmp, "wx").catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        throw new UploadInProgressError(`an upload to ${key} is in progress`);
      }
      throw writeError(err);
    });
    const exists = (file: string) =>
      access(file).then(
        () => true,
        () => false,
      );
    if ((await exists(name(period - 1))) || (await exists(name(period + 1)))) {
      await handle.close();
      await rm(tmp, { force: true });
      throw new UploadInProgressError(`an upload to ${key} is in progress`);
    }
    return { tmp, handle };
  }

  /** Refuses (StorageFullError) a write of `bytes` that would leave less than the floor free. */
  async #ensureRoom(bytes: number): Promise<void> {
    await io(() => mkdir(this.root, { recursive: true }));
    const fs = await io(() => statfs(this.root));
    const free = fs.bavail * fs.bsize;
    if (free - bytes < this.#limits.minFreeBytes) {
      throw new StorageFullError(`local media storage: ${free} bytes free, ${bytes} asked`);
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
