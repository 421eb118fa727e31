import { existsSync, mkdirSync, mkdtempSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { statfs } from "node:fs/promises";
import { type ClientRequest, type IncomingMessage, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import express from "express";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { errorHandler } from "../../src/http/error.handler.ts";
import { newId } from "../../src/kernel/ids.ts";
import { localFilesRoutes } from "../../src/media/local-files.routes.ts";
import { LocalMediaStorage, type LocalStorageLimits } from "../../src/media-storage/local.storage.ts";
import { newObjectKeys, StorageFullError } from "../../src/media-storage/media-storage.ts";
import { UrlSigner } from "../../src/media-storage/url-signer.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { removeDir } from "../helpers/env.ts";
import { freePort } from "../helpers/processes.ts";
import { mountSmallDisk } from "../helpers/small-disk.ts";
import { waitFor } from "../helpers/socket.ts";

const SECRET = "media-test-secret-media-test-secret-0123";
const KIB = Buffer.alloc(1024, 7);
const soon = () => new Date(Date.now() + 60_000);
type ErrorBody = { error: { code: string; details?: { reason?: string } } };

/** An API serving one local driver's signed URLs, the way api.ts mounts them. */
type Served = { storage: LocalMediaStorage; dir: string; server: Server };
const served: Served[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const s of served.splice(0)) s.server.close();
});
afterAll(() => {
  for (const d of dirs) removeDir(d);
});

async function serve(limits: Partial<LocalStorageLimits> = {}, root?: string): Promise<Served> {
  const dir = root ?? mkdtempSync(path.join(tmpdir(), "chat-media-uploads-"));
  if (!root) dirs.push(dir);
  const port = await freePort();
  const signer = new UrlSigner(SECRET, `http://127.0.0.1:${port}`);
  const storage = new LocalMediaStorage(dir, signer, {
    putBodyTimeoutMs: 120_000,
    minFreeBytes: 0,
    ...limits,
  });
  const app = express();
  app.use(localFilesRoutes(storage, signer).router);
  app.use(errorHandler(createLogger("silent", "test")));
  const server = app.listen(port, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  const s = { storage, dir, server };
  served.push(s);
  return s;
}

/** A PUT whose body is sent by the test, piece by piece (node:http: nothing buffers or retries). */
type OpenPut = {
  req: ClientRequest;
  response: Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }>;
};
function openPut(url: string, contentType: string, length: number): OpenPut {
  const req = request(url, {
    method: "PUT",
    headers: { "content-type": contentType, "content-length": String(length) },
  });
  const response = new Promise<{ status: number; headers: IncomingMessage["headers"]; body: string }>(
    (resolve, reject) => {
      req.on("response", (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on("error", reject);
    },
  );
  response.catch(() => {});
  return { req, response };
}

/** The bodies in flight: `.uploads/<key>~<reserved bytes>` (and no stray temporary file beside the objects). */
const temporaries = (dir: string) => [
  ...(existsSync(path.join(dir, ".uploads")) ? readdirSync(path.join(dir, ".uploads")) : []),
  ...readdirSync(dir).filter((f) => f.startsWith(".tmp-")),
];

describe("local uploads: one body per URL, a body deadline, a free-space floor", () => {
  it("a second PUT to a URL whose body is in flight answers 409 upload_in_progress, and only one temporary file exists", async () => {
    const { storage, dir } = await serve();
    const { upload } = newObjectKeys(newId());
    const size = 4 * KIB.length;
    const target = await storage.uploadTarget(upload, "application/pdf", size, soon());
    const first = openPut(target.url, "application/pdf", size);
    first.req.write(Buffer.concat([KIB, KIB, KIB]));
    await waitFor(() => temporaries(dir).length === 1, 5000, "the first body is being written");

    const others = await Promise.all(
      Array.from({ length: 5 }, () =>
        fetch(target.url, { method: "PUT", headers: target.headers, body: Buffer.alloc(size, 1) }),
      ),
    );
    for (const res of others) {
      expect(res.status).toBe(409);
      const body = (await res.json()) as ErrorBody;
      expect(body.error.code).toBe("conflict");
      expect(body.error.details?.reason).toBe("upload_in_progress");
    }
    expect(temporaries(dir)).toHaveLength(1);
    expect(await storage.stat(upload)).toBeNull();

    first.req.end(KIB);
    expect((await first.response).status).toBe(200);
    expect(await storage.stat(upload)).toEqual({ size });
    expect(temporaries(dir)).toEqual([]);
    // Once the body is in, the URL takes a PUT again (a client may upload again until it confirms).
    const again = await fetch(target.url, {
      method: "PUT",
      headers: target.headers,
      body: Buffer.alloc(size),
    });
    expect(again.status).toBe(200);
  });

  it("a file a killed process left is taken over once untouched for longer than a PUT lasts; a live one is not, whatever the other process's deadline", async () => {
    const { storage, dir } = await serve();
    const { upload } = newObjectKeys(newId());
    const target = await storage.uploadTarget(upload, "image/png", KIB.length, soon());
    mkdirSync(path.join(dir, ".uploads"), { recursive: true });
    const leftover = path.join(dir, ".uploads", `${upload}~${KIB.length}`);
    writeFileSync(leftover, "x");
    expect((await fetch(target.url, { method: "PUT", headers: target.headers, body: KIB })).status).toBe(409);
    // Written to last 131 s ago: past the 120 s deadline and its margin, nobody is sending it.
    const past = new Date(Date.now() - 131_000);
    utimesSync(leftover, past, past);
    expect((await fetch(target.url, { method: "PUT", headers: target.headers, body: KIB })).status).toBe(200);
    expect(temporaries(dir)).toEqual([]);

    // A body in flight through a process with a long deadline blocks a PUT through one with a
    // short deadline (a rolling change of MEDIA_PUT_BODY_TIMEOUT_S), and the other way round.
    const short = await serve({ putBodyTimeoutMs: 1000 }, dir);
    const { upload: other } = newObjectKeys(newId());
    const size = 2 * KIB.length;
    const long = await storage.uploadTarget(other, "application/pdf", size, soon());
    const slow = openPut(long.url, "application/pdf", size);
    slow.req.write(KIB);
    await waitFor(() => temporaries(dir).length === 1, 5000, "the body is in flight");
    const viaShort = long.url.replace(
      /127\.0\.0\.1:\d+/,
      `127.0.0.1:${(short.server.address() as AddressInfo).port}`,
    );
    const refused = await fetch(viaShort, { method: "PUT", headers: long.headers, body: Buffer.alloc(size) });
    expect(refused.status).toBe(409);
    slow.req.end(KIB);
    expect((await slow.response).status).toBe(200);
  });

  it("bodies in flight count against the floor: a PUT that would pass it once they land is refused", async () => {
    const probe = await serve();
    const GIB = 1024 ** 3;
    const free = (await statfs(probe.dir)).bavail * (await statfs(probe.dir)).bsize;
    // Room above the floor for one 1 GiB body, not two (other writers may use the rest).
    const { storage, dir } = await serve({ minFreeBytes: Math.max(0, free - 1.5 * GIB) }, probe.dir);
    const [a, b] = [newObjectKeys(newId()).upload, newObjectKeys(newId()).upload];
    const first = await storage.uploadTarget(a, "application/pdf", GIB, soon());
    const second = await storage.uploadTarget(b, "application/pdf", GIB, soon());
    const put = openPut(first.url, "application/pdf", GIB);
    put.req.write(KIB);
    await waitFor(() => temporaries(dir).length === 1, 5000, "the first body is in flight");
    const res = await fetch(second.url, { method: "PUT", headers: second.headers, body: KIB });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("30");
    expect(((await res.json()) as ErrorBody).error.code).toBe("unavailable");
    // Nor is another URL issued while the first body may still bring its gigabyte.
    await expect(
      storage.uploadTarget(newObjectKeys(newId()).upload, "application/pdf", GIB, soon()),
    ).rejects.toBeInstanceOf(StorageFullError);
    put.req.destroy();
    await waitFor(() => temporaries(dir).length === 0, 5000, "the cut body is removed");
  });

  it("a body slower than the deadline is cut: 408 request_timeout, its temporary file removed, nothing stored", async () => {
    const { storage, dir } = await serve({ putBodyTimeoutMs: 800 });
    const { upload } = newObjectKeys(newId());
    const size = 4 * KIB.length;
    const target = await storage.uploadTarget(upload, "application/pdf", size, soon());
    const slow = openPut(target.url, "application/pdf", size);
    slow.req.write(KIB);
    const started = Date.now();
    const res = await slow.response;
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.status).toBe(408);
    expect(res.headers.connection).toBe("close");
    expect((JSON.parse(res.body) as ErrorBody).error).toMatchObject({
      code: "request_timeout",
      details: { reason: "body_timeout" },
    });
    slow.req.destroy();
    expect(temporaries(dir)).toEqual([]);
    expect(await storage.stat(upload)).toBeNull();
    // The URL is free again for a body that arrives in time.
    const again = await fetch(target.url, {
      method: "PUT",
      headers: target.headers,
      body: Buffer.alloc(size),
    });
    expect(again.status).toBe(200);
  });

  it("below the free-space floor: no upload URL, and a PUT answers 503 with Retry-After and writes nothing", async () => {
    const roomy = await serve();
    const { upload } = newObjectKeys(newId());
    const target = await roomy.storage.uploadTarget(upload, "image/png", KIB.length, soon());
    roomy.server.close();
    // The same directory and URL, served by a process whose floor is above the disk's free space.
    const port = Number(new URL(target.url).port);
    const signer = new UrlSigner(SECRET, `http://127.0.0.1:${port}`);
    const full = new LocalMediaStorage(roomy.dir, signer, {
      putBodyTimeoutMs: 120_000,
      minFreeBytes: 2 ** 60,
    });
    await expect(
      full.uploadTarget(newObjectKeys(newId()).upload, "image/png", 1, soon()),
    ).rejects.toBeInstanceOf(StorageFullError);
    const app = express();
    app.use(localFilesRoutes(full, signer).router);
    app.use(errorHandler(createLogger("silent", "test")));
    const server = app.listen(port, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    served.push({ storage: full, dir: roomy.dir, server });
    const res = await fetch(target.url, { method: "PUT", headers: target.headers, body: KIB });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).not.toBeNull();
    expect(((await res.json()) as ErrorBody).error.code).toBe("unavailable");
    expect(temporaries(roomy.dir)).toEqual([]);
    expect(await full.stat(upload)).toBeNull();
  });

  const disk = mountSmallDisk("2m");
  afterAll(() => disk?.unmount());
  it.skipIf(!disk)(
    "a disk that fills up during the body answers 503 with Retry-After (not 400), and leaves nothing",
    async () => {
      const root = path.join(disk?.dir ?? "", "media");
      const { storage } = await serve({}, root);
      const { upload } = newObjectKeys(newId());
      const size = 1024 * KIB.length;
      const target = await storage.uploadTarget(upload, "application/pdf", size, soon());
      const put = openPut(target.url, "application/pdf", size);
      put.req.write(KIB);
      await waitFor(
        () => existsSync(root) && temporaries(root).length === 1,
        5000,
        "the body is being written",
      );
      disk?.fill();
      try {
        for (let i = 1; i < 1024 && !put.req.destroyed; i++) {
          if (!put.req.write(KIB)) await new Promise((r) => setTimeout(r, 5));
          if (i % 64 === 0) await new Promise((r) => setTimeout(r, 5));
        }
        const res = await put.response;
        expect(res.status).toBe(503);
        expect(res.headers["retry-after"]).toBeDefined();
        expect((JSON.parse(res.body) as ErrorBody).error.code).toBe("unavailable");
      } finally {
        put.req.destroy();
        disk?.free();
      }
      expect(temporaries(root)).toEqual([]);
      expect(await storage.stat(upload)).toBeNull();
    },
  );
});
