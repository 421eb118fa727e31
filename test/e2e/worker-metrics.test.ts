import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../../src/auth/jwt.ts";
import { dropPrefix, removeDir, TEST_SECRET, tempDir, testEnv, token, uniquePrefix } from "../helpers/env.ts";
import { freePort, type Proc, startApiProcess, startWorkerProcess } from "../helpers/processes.ts";
import { waitFor } from "../helpers/socket.ts";

const prefix = uniquePrefix("wmetrics");
const dir = tempDir("wmetrics");
let base = 0;
const procs: Proc[] = [];
beforeAll(async () => {
  base = await freePort();
  const env = testEnv(prefix, dir, { METRICS_PORT: String(base), LOG_LEVEL: "info" });
  procs.push(startWorkerProcess(env, "persist"), startWorkerProcess(env, "notify"));
  procs.push(await startApiProcess(env));
});
afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await dropPrefix(prefix);
  removeDir(dir);
});

const admin = signToken(TEST_SECRET, "ops", { expiresInS: 600, admin: true });

describe("worker pools serve their own metrics", () => {
  it("on METRICS_PORT + 10 × pool index, admin only, with job metrics and queue depths by state", async () => {
    const persist = `http://127.0.0.1:${base}/metrics`;
    const notify = `http://127.0.0.1:${base + 30}/metrics`;
    await waitFor(
      async () => (await fetch(persist).catch(() => null))?.status === 401,
      15_000,
      "persist metrics up",
    );
    await waitFor(
      async () => (await fetch(notify).catch(() => null))?.status === 401,
      15_000,
      "notify metrics up",
    );
    expect((await fetch(persist, { headers: { authorization: `Bearer ${token("joe")}` } })).status).toBe(403);
    const res = await fetch(persist, { headers: { authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/chat_queue_jobs\{queue="persist",state="waiting"\} \d+/);
    expect(text).toMatch(/process_cpu_seconds_total/);
    const other = await (await fetch(notify, { headers: { authorization: `Bearer ${admin}` } })).text();
    expect(other).toMatch(/chat_queue_jobs\{queue="notify",state="failed"\} \d+/);
    // An API instance has its own port too (PM2 cluster mode shares PORT).
    const api = await fetch(`http://127.0.0.1:${base + 40}/metrics`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(api.status).toBe(200);
    expect(await api.text()).toMatch(/chat_http_request_duration_seconds/);
  });
});
