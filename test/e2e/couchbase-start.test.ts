import { afterAll, describe, expect, it } from "vitest";
import { removeDir, tempDir, testEnv, uniquePrefix } from "../helpers/env.ts";
import { freePort, start } from "../helpers/processes.ts";

const dir = tempDir("cb-start");
afterAll(() => removeDir(dir));

/**
 * With the real SDK and nothing listening where COUCHBASE_CONNSTR points, every process and
 * the init script stop within the bootstrap timeout, saying what to check: never a hang, never
 * a stack, never the password.
 */
describe("STORE=couchbase with the cluster unreachable", () => {
  it("the API, a pool and couchbase:init fail fast with a clear message", async () => {
    const env = {
      ...testEnv(uniquePrefix("cbstart"), dir),
      STORE: "couchbase",
      COUCHBASE_CONNSTR: `couchbase://127.0.0.1:${await freePort()}`,
      COUCHBASE_USERNAME: "chat",
      COUCHBASE_PASSWORD: "hunter2-not-logged",
      COUCHBASE_BOOTSTRAP_TIMEOUT_MS: "1500",
      PORT: String(await freePort()),
    };
    for (const [script, args] of [
      ["src/main.ts", []],
      ["workers/main.ts", ["persist"]],
      ["scripts/couchbase-init.ts", []],
    ] as const) {
      const began = Date.now();
      const proc = start(script, [...args], env);
      expect(await proc.exited).toBe(1);
      expect(Date.now() - began).toBeLessThan(10_000);
      expect(proc.output()).toMatch(
        /Couchbase at couchbase:\/\/127\.0\.0\.1:\d+ \(bucket chat\) not reachable within 1500 ms/,
      );
      expect(proc.output()).toMatch(/COUCHBASE_CONNSTR/);
      expect(proc.output()).not.toMatch(/hunter2/);
      expect(proc.output()).not.toMatch(/\n\s+at /);
    }
  }, 60_000);
});
