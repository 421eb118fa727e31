import { randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
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

/** Past the body deadline: a body in flight untouched for that long more has no process left. */
const STALE_MARGIN_MS = 10_000;

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
   * sharing the directory), and a write that would leave less than the free-space floor, counting
   * what the bodies in flight may still write. The body stream is only read, never destroyed:
   * the caller can still answer on its socket.
   */
  async write(key: string, body: Readable, maxSize: number): Promise<number> {
    const target = this.file(key);
    const { tmp, handle, ino } = await this.#claim(key, maxSize);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      const ms = this.#limits.putBodyTimeoutMs;
      timer = setTimeout(() => reject(new UploadTimeoutError(`the body took more than ${ms} ms`)), ms);
    });
    deadline.catch(() => {});
    try {
      // Our own claim is among the reservations: its whole size is counted before a byte lands.
      await this.#ensureRoom(0);
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
      if (!(await this.#owns(tmp, ino))) {
        throw new UploadInProgressError(`the upload to ${key} was taken over`);
      }
      await io(() => rename(tmp, target));
      return written;
    } finally {
      clearTimeout(timer);
      if (await this.#owns(tmp, ino)) await rm(tmp, { force: true });
      await handle.close().catch(() => {});
    }
  }

  /** The directory of the bodies in flight: `<key>~<reserved bytes>`, one file per upload key. */
  get #inflight(): string {
    return path.join(this.root, ".uploads");
  }

  /**
   * The one file of a key's body in flight, created exclusively (any process sharing the
   * directory sees it), its name carrying the bytes the body may still bring. A file nobody has
   * written to for longer than a PUT may last was left by a killed process: it is taken over.
   */
  async #claim(key: string, maxSize: number): Promise<{ tmp: string; handle: FileHandle; ino: number }> {
    await io(() => mkdir(this.#inflight, { recursive: true }));
    const tmp = path.join(this.#inflight, `${key}~${maxSize}`);
    for (let attempt = 0; ; attempt++) {
      try {
        const handle = await open(tmp, "wx");
        return { tmp, handle, ino: (await handle.stat()).ino };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw writeError(err);
        if (attempt > 0 || !(await this.#stale(tmp))) {
          throw new UploadInProgressError(`an upload to ${key} is in progress`);
        }
        await rm(tmp, { force: true });
      }
    }
  }

  /** Whether an in-flight file has not been written to for longer than any PUT lasts. */
  async #stale(file: string): Promise<boolean> {
    const s = await stat(file).catch(() => null);
    return s !== null && this.#untouched(s.mtimeMs);
  }

  #untouched(mtimeMs: number): boolean {
    return Date.now() - mtimeMs > this.#limits.putBodyTimeoutMs + STALE_MARGIN_MS;
  }

  /** Whether the path still names the file this PUT created (not one that took it over). */
  async #owns(file: string, ino: number): Promise<boolean> {
    return (await stat(file).catch(() => null))?.ino === ino;
  }

  /** What the bodies in flight (on every process) may still write: reserved less written. */
  async #reserved(): Promise<number> {
    const names = await readdir(this.#inflight).catch(() => [] as string[]);
    const left = await Promise.all(
      names.map(async (name) => {
        const reserved = Number(name.slice(name.lastIndexOf("~") + 1));
        const s = await stat(path.join(this.#inflight, name)).catch(() => null);
        if (!s || !Number.isSafeInteger(reserved)) return 0;
        // A killed process's leftover reserves nothing (it is taken over or swept).
        if (this.#untouched(s.mtimeMs)) return 0;
        return Math.max(0, reserved - s.size);
      }),
    );
    return left.reduce((a, b) => a + b, 0);
  }

  /**
   * Refuses (StorageFullError) a write of `bytes` that, with what the bodies in flight may still
   * write, would leave less than the floor free.
   */
  async #ensureRoom(bytes: number): Promise<void> {
    await io(() => mkdir(this.root, { recursive: true }));
    const fs = await io(() => statfs(this.root));
    const free = fs.bavail * fs.bsize - (await this.#reserved());
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
      const inflight = await readdir(this.#inflight).catch(() => [] as string[]);
      let removed = 0;
      for (const full of [
        ...names
          .filter((n) => n.startsWith(".tmp-") || n.startsWith(".work-"))
          .map((n) => path.join(this.root, n)),
        ...inflight.map((n) => path.join(this.#inflight, n)),
      ]) {
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
