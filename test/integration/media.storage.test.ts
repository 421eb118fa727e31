import { mkdtempSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import express from "express";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorHandler } from "../../src/http/error.handler.ts";
import { toAppError } from "../../src/http/error-mapping.ts";
import { newId } from "../../src/kernel/ids.ts";
import { localFilesRoutes } from "../../src/media/local-files.routes.ts";
import { LocalMediaStorage } from "../../src/media-storage/local.storage.ts";
import {
  gridExpiry,
  newObjectKeys,
  ObjectMissingError,
  StorageUnavailableError,
} from "../../src/media-storage/media-storage.ts";
import { S3MediaStorage } from "../../src/media-storage/s3.storage.ts";
import { UrlSigner } from "../../src/media-storage/url-signer.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { removeDir } from "../helpers/env.ts";
import { freePort } from "../helpers/processes.ts";

const SECRET = "media-test-secret-media-test-secret-0123";
const body = Buffer.from("0123456789abcdef".repeat(64)); // 1 KiB

describe("local driver: signed URLs served by the API", () => {
  let server: Server;
  let base = "";
  let dir = "";
  let storage: LocalMediaStorage;
  let signer: UrlSigner;
  const soon = () => new Date(Date.now() + 60_000);
  /** What the error handler logged (a client's mistake logs nothing). */
  const logged: unknown[][] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "chat-media-local-"));
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    signer = new UrlSigner(SECRET, base);
    storage = new LocalMediaStorage(dir, signer);
    const app = express();
    app.use(localFilesRoutes(storage, signer).router);
    const logger = createLogger("silent", "test");
    logger.warn = ((...args: unknown[]) => void logged.push(["warn", ...args])) as typeof logger.warn;
    logger.error = ((...args: unknown[]) => void logged.push(["error", ...args])) as typeof logger.error;
    app.use(errorHandler(logger));
    server = app.listen(port, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
  });
  afterAll(() => {
    server.close();
    removeDir(dir);
  });

  const put = (url: string, data: Buffer | string, headers: Record<string, string>) =>
    fetch(url, { method: "PUT", headers, body: data });

  it("a signed PUT stores the object once complete; a signed GET streams it back with its headers", async () => {
    const { upload } = newObjectKeys(newId());
    const target = await storage.uploadTarget(upload, "image/png", body.length, soon());
    expect(target.headers).toEqual({ "content-type": "image/png" });
    expect((await put(target.url, body, target.headers)).status).toBe(200);
    expect(await storage.stat(upload)).toEqual({ size: body.length });
    expect((await storage.readHead(upload, 4)).toString()).toBe("0123");

    const { signedAt, expiresAt } = gridExpiry(Date.now(), 600);
    const url = await storage.downloadUrl(upload, { contentType: "image/png", signedAt, expiresAt });
    expect(await storage.downloadUrl(upload, { contentType: "image/png", signedAt, expiresAt })).toBe(url);
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(got.headers.get("content-length")).toBe(String(body.length));
    expect(got.headers.get("cache-control")).toMatch(/^private, max-age=\d+, immutable$/);
    expect(got.headers.get("content-disposition")).toBe("inline");
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);

    const part = await fetch(url, { headers: { range: "bytes=16-31" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 16-31/${body.length}`);
    expect(await part.text()).toBe("0123456789abcdef");
    const past = await fetch(url, { headers: { range: "bytes=5000-" } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toMatch(/^bytes \*\/\d+$/);
    expect(((await past.json()) as { error: { code: string } }).error.code).toBe("range_not_satisfiable");

    const doc = await storage.downloadUrl(upload, {
      contentType: "application/pdf",
      signedAt,
      expiresAt,
      attachmentName: "report 1.pdf",
    });
    expect((await fetch(doc)).headers.get("content-disposition")).toBe(
      "attachment; filename*=UTF-8''report%201.pdf",
    );
  });

  it("refuses unsigned, tampered, expired, oversize and wrong-type requests, and stores nothing", async () => {
    const { upload } = newObjectKeys(newId());
    const target = await storage.uploadTarget(upload, "image/png", body.length, soon());
    const url = new URL(target.url);
    const variant = (change: (u: URL) => void) => {
      const u = new URL(url);
      change(u);
      return u.toString();
    };
    const other = newObjectKeys(newId()).upload;
    const cases: [string, string, number][] = [
      ["unsigned", variant((u) => u.searchParams.delete("sig")), 403],
      ["another key", variant((u) => (u.pathname = u.pathname.replace(upload, other))), 403],
      ["a bigger max", variant((u) => u.searchParams.set("max", "99999999")), 403],
      ["another type", variant((u) => u.searchParams.set("ct", "text/html")), 403],
      [
        "a later expiry",
        variant((u) => u.searchParams.set("exp", String(Number(u.searchParams.get("exp")) + 1))),
        403,
      ],
      ["a bad signature", variant((u) => u.searchParams.set("sig", "A".repeat(43))), 403],
      ["a path outside the store", variant((u) => (u.pathname = "/media/files/..%2F..%2Fetc%2Fpasswd")), 403],
    ];
    for (const [what, bad, status] of cases) {
      const res = await put(bad, body, target.headers);
      expect(res.status, what).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code, what).toBe("forbidden");
    }
    // The GET of an upload URL is not a GET grant.
    expect((await fetch(target.url)).status).toBe(403);
    const wrongType = await put(target.url, body, { "content-type": "text/html" });
    expect(wrongType.status).toBe(415);
    const tooBig = await put(target.url, Buffer.concat([body, Buffer.from("x")]), target.headers);
    expect(tooBig.status).toBe(413);
    // Chunked (no Content-Length): cut off once past the limit.
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(body);
        c.enqueue(body);
        c.close();
      },
    });
    const chunked = await fetch(target.url, {
      method: "PUT",
      headers: target.headers,
      body: stream,
      duplex: "half",
    } as RequestInit).catch(() => null);
    if (chunked) expect(chunked.status).toBe(413);
    expect(await storage.stat(upload)).toBeNull();

    const expired = await storage.uploadTarget(upload, "image/png", body.length, new Date(Date.now() - 1000));
    const late = await put(expired.url, body, expired.headers);
    expect(late.status).toBe(403);
    expect(((await late.json()) as { error: { message: string } }).error.message).toMatch(/expired/);
    expect(await storage.stat(upload)).toBeNull();
  });

  it("an upload the client abandons half-way stores nothing, leaves no temporary file and logs nothing", async () => {
    const { upload } = newObjectKeys(newId());
    const target = await storage.uploadTarget(upload, "image/png", body.length * 4, soon());
    const abort = new AbortController();
    let sent!: () => void;
    const halfway = new Promise<void>((r) => {
      sent = r;
    });
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(body);
        sent();
      },
    });
    const put = fetch(target.url, {
      method: "PUT",
      headers: { ...target.headers, "content-length": String(body.length * 4) },
      body: stream,
      duplex: "half",
      signal: abort.signal,
    } as RequestInit).catch(() => null);
    await halfway;
    await new Promise((r) => setTimeout(r, 100));
    abort.abort();
    await put;
    await new Promise((r) => setTimeout(r, 200));
    expect(await storage.stat(upload)).toBeNull();
    const { readdirSync } = await import("node:fs");
    expect(readdirSync(dir).filter((f) => f.startsWith(".tmp-"))).toEqual([]);
    expect(readdirSync(path.join(dir, ".uploads"))).toEqual([]);
    expect(logged).toEqual([]);
  });

  it("places an upload once: a later upload never replaces the placed object; downloads; deletes", async () => {
    const { upload, object } = newObjectKeys(newId());
    await storage.put(upload, body, "image/png");
    await storage.placeOnce(upload, object);
    expect(await storage.stat(upload)).toBeNull();
    // A second PUT to the upload URL, then another placement: the first object stays.
    await storage.put(upload, Buffer.from("swapped"), "image/png");
    await storage.placeOnce(upload, object);
    expect(await storage.stat(upload)).toBeNull();
    expect(await storage.stat(object)).toEqual({ size: body.length });
    await storage.placeOnce(upload, object); // nothing to place: no error
    const file = path.join(dir, "copy.bin");
    await storage.download(object, file);
    expect(readFileSync(file).equals(body)).toBe(true);
    await storage.delete([object, upload]);
    expect(await storage.stat(object)).toBeNull();
    await expect(storage.readHead(object, 4)).rejects.toBeInstanceOf(ObjectMissingError);
    await expect(storage.download(object, path.join(dir, "gone.bin"))).rejects.toBeInstanceOf(
      ObjectMissingError,
    );
    expect(() => storage.file("../escape")).toThrow();
  });

  it("sweeps what interrupted writes left, and only old ones", async () => {
    const { writeFileSync, utimesSync, existsSync } = await import("node:fs");
    const { mkdirSync } = await import("node:fs");
    mkdirSync(path.join(dir, ".uploads"), { recursive: true });
    const old = [
      path.join(dir, ".tmp-old"),
      path.join(dir, ".uploads", `${newObjectKeys(newId()).upload}~10`),
    ];
    const fresh = [
      path.join(dir, ".tmp-fresh"),
      path.join(dir, ".uploads", `${newObjectKeys(newId()).upload}~10`),
    ];
    for (const f of [...old, ...fresh]) writeFileSync(f, "x");
    for (const f of old) utimesSync(f, new Date(Date.now() - 3_600_000), new Date(Date.now() - 3_600_000));
    expect(await storage.sweep(600_000)).toBe(2);
    for (const f of old) expect(existsSync(f)).toBe(false);
    for (const f of fresh) expect(existsSync(f)).toBe(true);
  });
});

describe("s3 driver against s3rver (real HTTP to presigned URLs)", () => {
  let s3rver: S3rver;
  let dir = "";
  let storage: S3MediaStorage;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "chat-s3rver-"));
    const port = await freePort();
    s3rver = new S3rver({
      port,
      address: "127.0.0.1",
      silent: true,
      directory: dir,
      configureBuckets: [{ name: "chat-media", configs: [] }],
    });
    await s3rver.run();
    storage = new S3MediaStorage({
      endpoint: `http://127.0.0.1:${port}`,
      region: "us-east-1",
      bucket: "chat-media",
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      forcePathStyle: true,
    });
  });
  afterAll(async () => {
    storage.destroy();
    await s3rver.close();
    removeDir(dir);
  });

  it("PUT to the presigned URL, then HEAD, ranged GET, copy-move, download, a presigned GET, delete", async () => {
    const { upload, object } = newObjectKeys(newId());
    const target = await storage.uploadTarget(
      upload,
      "image/png",
      body.length,
      new Date(Date.now() + 60_000),
    );
    const signed = new URL(target.url).searchParams.get("X-Amz-SignedHeaders") ?? "";
    expect(signed.split(";")).toEqual(expect.arrayContaining(["content-length", "content-type", "host"]));
    expect(target.url).not.toMatch(/x-amz-checksum|x-amz-sdk-checksum/i);
    const put = await fetch(target.url, { method: "PUT", headers: target.headers, body });
    expect(put.status).toBe(200);
    expect(await storage.stat(upload)).toEqual({ size: body.length });
    expect((await storage.readHead(upload, 10)).toString()).toBe("0123456789");

    await storage.placeOnce(upload, object);
    expect(await storage.stat(upload)).toBeNull();
    await storage.placeOnce(upload, object); // nothing left to place: no error
    await expect(storage.readHead(upload, 1)).rejects.toBeInstanceOf(ObjectMissingError);
    const file = path.join(dir, "dl.bin");
    await storage.download(object, file);
    expect(readFileSync(file).equals(body)).toBe(true);

    const { signedAt, expiresAt } = gridExpiry(Date.now(), 600);
    const url = await storage.downloadUrl(object, { contentType: "image/png", signedAt, expiresAt });
    expect(await storage.downloadUrl(object, { contentType: "image/png", signedAt, expiresAt })).toBe(url);
    const got = await fetch(url);
    expect(got.status).toBe(200);
    expect(got.headers.get("content-type")).toBe("image/png");
    expect(Buffer.from(await got.arrayBuffer()).equals(body)).toBe(true);

    await storage.put(object.replace(/^ob-/, "th-"), Buffer.from("thumb"), "image/webp");
    await storage.delete([object, object.replace(/^ob-/, "th-"), upload]);
    expect(await storage.stat(object)).toBeNull();
  });

  it("an unreachable endpoint is an outage (503, jobs retry), not a missing object or a bug", async () => {
    const down = new S3MediaStorage({
      endpoint: `http://127.0.0.1:${await freePort()}`,
      region: "us-east-1",
      bucket: "chat-media",
      accessKeyId: "S3RVER",
      secretAccessKey: "S3RVER",
      forcePathStyle: true,
    });
    const err = await down.stat(newObjectKeys(newId()).object).catch((e: unknown) => e);
    down.destroy();
    expect(err).toBeInstanceOf(StorageUnavailableError);
    expect(toAppError(err)).toMatchObject({ code: "unavailable", status: 503 });
  });

  it("an expired presigned PUT is refused", async () => {
    const { upload } = newObjectKeys(newId());
    const target = await storage.uploadTarget(upload, "image/png", body.length, new Date(Date.now() + 1000));
    await new Promise((r) => setTimeout(r, 2100));
    const put = await fetch(target.url, { method: "PUT", headers: target.headers, body });
    expect(put.status).toBe(403);
    expect(await storage.stat(upload)).toBeNull();
  });
});
