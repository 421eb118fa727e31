import { existsSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../../src/auth/jwt.ts";
import { dropPrefix, removeDir, TEST_SECRET, tempDir, testEnv, token, uniquePrefix } from "../helpers/env.ts";
import { type Proc, startApiProcess } from "../helpers/processes.ts";

const CHROMIUM = "/usr/bin/chromium";
const HAS_CHROMIUM = existsSync(CHROMIUM);
const QUEUES = ["persist", "media", "fanout", "notify"];

const prefix = uniquePrefix("bullboard");
const dir = tempDir("bullboard");
let api: Proc & { base: string };
beforeAll(async () => {
  api = await startApiProcess(testEnv(prefix, dir));
});
afterAll(async () => {
  await api?.stop();
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
      (await fetch(`${base}/api/queues`, { headers: { cookie: `chat_admin=${admin()}x` } })).status,
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

  it("sets the cookie Secure when PUBLIC_URL is https (behind a TLS proxy)", async () => {
    const express = (await import("express")).default;
    const { adminAuth } = await import("../../src/admin/admin-auth.ts");
    const { TokenVerifier } = await import("../../src/auth/jwt.ts");
    const app = express();
    const verifier = new TokenVerifier({ key: { kind: "secret", secret: TEST_SECRET, generated: false } });
    app.use("/admin/queues", adminAuth(verifier, "/admin/queues", true), (_req, res) => void res.end("ok"));
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
