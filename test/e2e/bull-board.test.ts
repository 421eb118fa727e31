import { existsSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../../src/auth/jwt.ts";
import { Keys } from "../../src/redis/redis.ts";
import {
  dropPrefix,
  removeDir,
  TEST_SECRET,
  tempDir,
  testEnv,
  testRedis,
  token,
  uniquePrefix,
} from "../helpers/env.ts";
import { freePort, type Proc, startApiProcess, startWorkerProcess } from "../helpers/processes.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
const QUEUES = ["persist", "media", "fanout", "notify"];

const prefix = uniquePrefix("bullboard");
const dir = tempDir("bullboard");
let api: Proc & { base: string };
// The API's own metrics port (METRICS_PORT + 40) and a persist worker's (METRICS_PORT + 0).
let apiMetricsPort: number;
let workerMetricsPort: number;
let worker: Proc;
beforeAll(async () => {
  apiMetricsPort = await freePort();
  workerMetricsPort = await freePort();
  const env = testEnv(prefix, dir);
  api = await startApiProcess({ ...env, METRICS_PORT: String(apiMetricsPort - 40) });
  worker = startWorkerProcess({ ...env, METRICS_PORT: String(workerMetricsPort) });
});
afterAll(async () => {
  await api?.stop();
  await worker?.stop();
  await dropPrefix(prefix);
  removeDir(dir);
});

const admin = () => signToken(TEST_SECRET, "ops", { expiresInS: 600, admin: true });

describe("Bull Board (/admin/queues)", () => {
  it("admins only: 401 without a token or with a tampered one, 403 for a non-admin; the JSON API lists every queue", async () => {
    const base = `${api.base}/admin/queues`;
    expect((await fetch(base)).status).toBe(401);
    expect((await fetch(base, { headers: { authorization: `Bearer ${token("joe")}` } })).status).toBe(403);
    expect(
      (await fetch(`${base}/api/queues`, { headers: { authorization: `Bearer ${admin()}x` } })).status,
    ).toBe(401);
    const res = await fetch(`${base}/api/queues`, { headers: { authorization: `Bearer ${admin()}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { queues: { name: string }[] };
    expect(body.queues.map((q) => q.name).sort()).toEqual([...QUEUES].sort());
  });

  it("?token= sets an HttpOnly, SameSite=Strict cookie for the board's path, bounded by the token, and drops the token from the URL", async () => {
    const res = await fetch(`${api.base}/admin/queues?token=${admin()}`, { redirect: "manual" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/queues");
    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toMatch(/^chat_board=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/admin\/queues/);
    const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1]);
    expect(maxAge).toBeGreaterThan(500);
    expect(maxAge).toBeLessThanOrEqual(600);
    expect(
      (await fetch(`${api.base}/admin/queues?token=${token("joe")}`, { redirect: "manual" })).status,
    ).toBe(403);
  });

  it("is read-only (no forged jobs, no emptied queues), and its redirect never leaves the board", async () => {
    const headers = { authorization: `Bearer ${admin()}`, "content-type": "application/json" };
    const add = await fetch(`${api.base}/admin/queues/api/queues/persist/add`, {
      method: "POST",
      headers,
      body: JSON.stringify({ name: "persist-batch", data: { messages: [], ops: [] } }),
    });
    expect(add.status).toBe(403);
    for (const [method, path] of [
      ["PUT", "/admin/queues/api/queues/persist/empty"],
      ["PUT", "/admin/queues/api/queues/persist/clean/failed"],
      ["DELETE", "/admin/queues/api/queues/persist/obliterate"],
    ] as const) {
      expect((await fetch(`${api.base}${path}`, { method, headers })).status, `${method} ${path}`).toBe(403);
    }
    const { request } = await import("node:http");
    // A raw path (fetch would normalise it) that resolves outside the board.
    const location = await new Promise<string | undefined>((resolve, reject) => {
      const url = new URL(api.base);
      request(
        { host: url.hostname, port: url.port, path: `/admin/queues/../../..//evil.com?token=${admin()}&x=1` },
        (res) => {
          res.resume();
          resolve(res.headers.location);
        },
      )
        .on("error", reject)
        .end();
    });
    expect(location === undefined || location === "/admin/queues?x=1").toBe(true);
  });

  /** Opens a board session the way a browser does; returns the cookie pair and its Set-Cookie. */
  async function boardCookie(jwt: string): Promise<{ pair: string; value: string; header: string }> {
    const res = await fetch(`${api.base}/admin/queues?token=${jwt}`, { redirect: "manual" });
    expect(res.status).toBe(303);
    const header = res.headers.get("set-cookie") ?? "";
    const pair = header.split(";")[0] ?? "";
    return { pair, value: pair.slice(pair.indexOf("=") + 1), header };
  }

  it("the cookie is a board session, not the JWT: it opens the board and nothing else (not /metrics on any port)", async () => {
    const jwt = admin();
    const { pair, value } = await boardCookie(jwt);
    expect(value).not.toBe(jwt);
    for (const part of jwt.split(".")) expect(value).not.toContain(part);
    expect(value).not.toMatch(/^eyJ|\./); // no JWT, nor any JWS segment
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const board = await fetch(`${api.base}/admin/queues/api/queues`, { headers: { cookie: pair } });
    expect(board.status).toBe(200);
    expect((await fetch(`${api.base}/admin/queues`, { headers: { cookie: pair } })).status).toBe(200);

    // /metrics takes a bearer admin JWT only: neither the cookie nor its value as a bearer.
    const targets = [
      `${api.base}/metrics`,
      `http://127.0.0.1:${apiMetricsPort}/metrics`,
      `http://127.0.0.1:${workerMetricsPort}/metrics`,
    ];
    const end = Date.now() + 20_000;
    for (const url of targets) {
      for (;;) {
        const up = await fetch(url, { headers: { authorization: `Bearer ${jwt}` } }).catch(() => null);
        if (up?.status === 200) break;
        if (Date.now() > end) throw new Error(`${url} never served\n${worker.output()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect((await fetch(url, { headers: { cookie: pair } })).status, url).toBe(401);
      expect((await fetch(url, { headers: { cookie: `chat_admin=${jwt}` } })).status, url).toBe(401);
      expect((await fetch(url, { headers: { authorization: `Bearer ${value}` } })).status, url).toBe(401);
    }
  }, 40_000);

  it("a tampered, unknown or expired session is refused; a non-admin gets no cookie; the session ends with the token", async () => {
    const { pair, value } = await boardCookie(admin());
    const flipped = `${value.slice(0, -1)}${value.endsWith("A") ? "B" : "A"}`;
    for (const cookie of [
      `chat_board=${flipped}`,
      "chat_board=",
      `chat_board=${value}x`,
      `chat_board=${admin()}`,
    ]) {
      expect(
        (await fetch(`${api.base}/admin/queues/api/queues`, { headers: { cookie } })).status,
        cookie,
      ).toBe(401);
    }
    expect((await fetch(`${api.base}/admin/queues/api/queues`, { headers: { cookie: pair } })).status).toBe(
      200,
    );

    const nonAdmin = await fetch(`${api.base}/admin/queues?token=${token("joe")}`, { redirect: "manual" });
    expect(nonAdmin.status).toBe(403);
    expect(nonAdmin.headers.get("set-cookie")).toBeNull();

    // At most an hour, and never past the token: a 3-second token gives a session of at most 3 s.
    const long = await boardCookie(signToken(TEST_SECRET, "ops", { expiresInS: 86_400, admin: true }));
    expect(Number(/Max-Age=(\d+)/.exec(long.header)?.[1])).toBe(3600);
    const short = await boardCookie(signToken(TEST_SECRET, "ops", { expiresInS: 3, admin: true }));
    expect(Number(/Max-Age=(\d+)/.exec(short.header)?.[1])).toBeLessThanOrEqual(3);
    expect(
      (await fetch(`${api.base}/admin/queues/api/queues`, { headers: { cookie: short.pair } })).status,
    ).toBe(200);
    await new Promise((r) => setTimeout(r, 3500));
    expect(
      (await fetch(`${api.base}/admin/queues/api/queues`, { headers: { cookie: short.pair } })).status,
    ).toBe(401);
  });

  it("sets the cookie Secure when PUBLIC_URL is https (behind a TLS proxy)", async () => {
    const express = (await import("express")).default;
    const { adminAuth, BoardSessions } = await import("../../src/admin/admin-auth.ts");
    const { TokenVerifier } = await import("../../src/auth/jwt.ts");
    const app = express();
    const verifier = new TokenVerifier({ key: { kind: "secret", secret: TEST_SECRET, generated: false } });
    const redis = testRedis();
    const sessions = new BoardSessions(redis, new Keys(prefix));
    app.use(
      "/admin/queues",
      adminAuth(verifier, sessions, "/admin/queues", true),
      (_req, res) => void res.end("ok"),
    );
    const server = app.listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    try {
      const { port } = server.address() as { port: number };
      const res = await fetch(`http://127.0.0.1:${port}/admin/queues?token=${admin()}`, {
        redirect: "manual",
      });
      expect(res.headers.get("set-cookie")).toMatch(/; Secure/);
    } finally {
      server.close();
      redis.disconnect();
    }
  });

  it.skipIf(!HAS_CHROMIUM)(
    "opens in headless Chromium with ?token= and shows every queue",
    async () => {
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const page = await browser.newPage();
        await page.goto(`${api.base}/admin/queues?token=${admin()}`);
        expect(new URL(page.url()).searchParams.has("token")).toBe(false);
        for (const name of QUEUES)
          await page.getByText(name, { exact: true }).first().waitFor({ timeout: 15_000 });
        await page.screenshot({ path: path.join(dir, "bull-board.png"), fullPage: true });
        expect(existsSync(path.join(dir, "bull-board.png"))).toBe(true);
      } finally {
        await browser.close();
      }
    },
    60_000,
  );
  if (!HAS_CHROMIUM) it.skip("the browser test (skipped: Debian's chromium is not installed)", () => {});
});
