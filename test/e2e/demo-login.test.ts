import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropPrefix, removeDir, tempDir, testEnv, uniquePrefix } from "../helpers/env.ts";
import { checkedFetch } from "../helpers/http.ts";
import { type Proc, startApiProcess } from "../helpers/processes.ts";

const prefix = uniquePrefix("demo");
const dir = tempDir("demo");
const offDir = tempDir("demo-off");
let demo: Proc & { base: string };
let off: Proc & { base: string };

beforeAll(async () => {
  // Embedded defaults: no JWT_SECRET, so the secret is generated and the demo login is on.
  const { JWT_SECRET: _, ...embedded } = testEnv(prefix, dir, {
    LOG_LEVEL: "info",
    DEMO_LOGINS_PER_MIN: "12",
  });
  [demo, off] = await Promise.all([
    startApiProcess(embedded),
    startApiProcess(testEnv(`${prefix}-off`, offDir)),
  ]);
}, 30_000);
afterAll(async () => {
  await Promise.all([demo?.stop(), off?.stop()]);
  await Promise.all([dropPrefix(prefix), dropPrefix(`${prefix}-off`)]);
  removeDir(dir);
  removeDir(offDir);
});

const login = (base: string, body: unknown, type = "application/json") =>
  checkedFetch(base, "/api/v1/demo/token", {
    method: "POST",
    headers: { "content-type": type },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("demo login (POST /api/v1/demo/token)", () => {
  it("on with the generated secret: a token for the user that works on the API, and a warning at start", async () => {
    const res = await login(demo.base, { user_id: "alice", name: "Alice" });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { token: string; expires_at: string };
    const ttl = Date.parse(body.expires_at) - Date.now();
    expect(ttl).toBeGreaterThan(11 * 3600_000);
    expect(ttl).toBeLessThanOrEqual(12 * 3600_000);
    const rooms = await checkedFetch(demo.base, "/api/v1/chat/rooms", {
      headers: { authorization: `Bearer ${body.token}` },
    });
    expect(rooms.status).toBe(200);
    // Never an operator: the demo token has no admin role.
    const metrics = await checkedFetch(demo.base, "/metrics", {
      headers: { authorization: `Bearer ${body.token}` },
    });
    expect(metrics.status).toBe(403);
    expect(demo.output()).toMatch(/DEMO_LOGIN is on/);
  });

  it("bad input is a 400 or 415 and signs nothing", async () => {
    for (const bad of [
      { user_id: "bob", name: "Bank\u202e moc.live" },
      { user_id: "bob", name: "two\nlines" },
      {},
      { user_id: "a b" },
      { user_id: "x".repeat(65) },
      { user_id: "bob", roles: ["admin"] },
      { user_id: "bob", name: " " },
      { user_id: "bob", name: "\ud800" },
    ]) {
      const res = await login(demo.base, bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(JSON.stringify(await res.json())).not.toContain('token":');
    }
    expect((await login(demo.base, "user_id=bob", "application/x-www-form-urlencoded")).status).toBe(415);
    expect((await login(demo.base, "{nope")).status).toBe(400);
  });

  it("is rate limited per client address (identities are free here), with Retry-After", async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 14; i++) {
      const res = await login(demo.base, { user_id: `flood-${i}` });
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get("retry-after");
    }
    expect(statuses).toContain(429);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(12);
    expect(Number(retryAfter)).toBeGreaterThan(0);
  });

  it("off once a JWT secret is set: 404, and no warning", async () => {
    const res = await login(off.base, { user_id: "alice" });
    expect(res.status).toBe(404);
    expect(off.output()).not.toMatch(/DEMO_LOGIN is on/);
  });
});
