import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { Router } from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHttpApp } from "../../src/http/http.app.ts";
import { AppError } from "../../src/kernel/errors.ts";
import { createLogger } from "../../src/observability/logger.ts";

const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk, _enc, done) {
    for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
    done();
  },
});
let server: Server;
let base = "";
beforeAll(async () => {
  const probe = Router();
  probe.get("/probe", (_req, res) => void res.json({ ok: true }));
  probe.get("/readyz", (_req, res) => void res.status(503).json({ ready: false }));
  probe.get("/down", () => {
    throw new AppError("unavailable", "the store is not answering");
  });
  const app = createHttpApp({
    logger: createLogger("info", "test", sink),
    trustProxy: false,
    corsOrigins: [],
    root: [probe],
    chat: [],
    authenticate: (_req, _res, next) => next(),
    isClosing: () => false,
    requestLogging: true,
  });
  server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe("request logs", () => {
  it("one line per request with its id (an incoming X-Request-Id kept and echoed), never the query string", async () => {
    const res = await fetch(`${base}/probe?token=secret-token&sig=abc`, {
      headers: { "x-request-id": "edge-42" },
    });
    expect(res.headers.get("x-request-id")).toBe("edge-42");
    const made = await fetch(`${base}/probe`, { headers: { "x-request-id": "has spaces, no" } });
    expect(made.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((r) => setTimeout(r, 50));
    const logged = lines.filter((l) => l.msg === "request completed");
    expect(logged.map((l) => (l.req as { id: string }).id)).toEqual([
      "edge-42",
      made.headers.get("x-request-id"),
    ]);
    expect(logged[0]).toMatchObject({ req: { method: "GET", path: "/probe" }, res: { status: 200 } });
    expect(JSON.stringify(lines)).not.toContain("secret-token");
  });

  it("a 503 is one warning without a made-up stack; readiness probes are not logged", async () => {
    lines.length = 0;
    expect((await fetch(`${base}/down`)).status).toBe(503);
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    await new Promise((r) => setTimeout(r, 50));
    const requests = lines.filter((l) => l.req !== undefined);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ level: 40, req: { path: "/down" }, res: { status: 503 } });
    expect(JSON.stringify(lines)).not.toContain("failed with status code");
    expect(JSON.stringify(lines)).not.toMatch(/\n\s+at /);
  });
});
