import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import { removeDir, tempDir } from "../helpers/env.ts";

const dir = tempDir("config");
afterAll(() => removeDir(dir));

describe("loadConfig", () => {
  it("runs on embedded defaults, generating a persistent secret in DATA_DIR", () => {
    const a = loadConfig({ DATA_DIR: dir });
    expect(a).toMatchObject({
      PORT: 3000,
      STORE: "sqlite",
      REDIS_PREFIX: "chat",
      REDIS_URL: "redis://127.0.0.1:6379",
    });
    expect(a.jwt.kind).toBe("secret");
    const file = path.join(dir, "jwt-secret");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const b = loadConfig({ DATA_DIR: dir });
    expect(b.jwt).toEqual(a.jwt);
    expect(a.jwt.kind === "secret" && a.jwt.secret).toBe(readFileSync(file, "utf8"));
  });

  it("never hands out a secret file that is not fully written (processes starting together)", () => {
    // What a reader saw when another process had created the file but not yet written it.
    const racing = tempDir("config-race");
    try {
      writeFileSync(path.join(racing, "jwt-secret"), "");
      expect(() => loadConfig({ DATA_DIR: racing })).toThrow(/jwt-secret: the generated secret is cut short/);
      // A fresh directory: the secret appears whole, and every later reader agrees with it.
      const fresh = tempDir("config-fresh");
      const first = loadConfig({ DATA_DIR: fresh });
      expect(first.jwt.kind === "secret" && first.jwt.secret.length).toBeGreaterThanOrEqual(32);
      expect(loadConfig({ DATA_DIR: fresh }).jwt).toEqual(first.jwt);
      expect(readdirSync(fresh).sort()).toEqual(["jwt-secret", "media-secret"]);
      removeDir(fresh);
    } finally {
      removeDir(racing);
    }
  });

  it("lists every invalid variable at once", () => {
    try {
      loadConfig({ PORT: "abc", REDIS_URL: "http://x", STORE: "mongo", REDIS_PREFIX: "a:b", DATA_DIR: dir });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join("\n");
      for (const v of ["PORT", "REDIS_URL", "STORE", "REDIS_PREFIX"]) expect(problems).toContain(v);
    }
  });

  it("refuses production without a JWT key, and a short secret", () => {
    expect(() => loadConfig({ NODE_ENV: "production", DATA_DIR: dir })).toThrow(
      /JWT_SECRET or JWT_PUBLIC_KEY/,
    );
    expect(() => loadConfig({ JWT_SECRET: "short", DATA_DIR: dir })).toThrow(/at least 32/);
  });

  it("asks for what the Couchbase store needs, and checks its names", () => {
    // Couchbase needs where and who; its bucket and scope default to "chat".
    expect(() => loadConfig({ STORE: "couchbase", DATA_DIR: dir })).toThrow(
      /COUCHBASE_CONNSTR: required[\s\S]*COUCHBASE_USERNAME: required[\s\S]*COUCHBASE_PASSWORD: required/,
    );
    const cb = loadConfig({
      STORE: "couchbase",
      COUCHBASE_CONNSTR: "couchbase://cb1",
      COUCHBASE_USERNAME: "chat",
      COUCHBASE_PASSWORD: "secret",
      DATA_DIR: dir,
    });
    expect(cb).toMatchObject({
      COUCHBASE_BUCKET: "chat",
      COUCHBASE_SCOPE: "chat",
      COUCHBASE_BOOTSTRAP_TIMEOUT_MS: 10_000,
    });
    expect(() =>
      loadConfig({
        STORE: "couchbase",
        COUCHBASE_CONNSTR: "x",
        COUCHBASE_USERNAME: "u",
        COUCHBASE_PASSWORD: "p",
        COUCHBASE_SCOPE: "a.b",
        DATA_DIR: dir,
      }),
    ).toThrow(/COUCHBASE_SCOPE/);
  });

  it("demo login: on only while the JWT secret is the generated one, unless DEMO_LOGIN says; never in production", () => {
    const secret = "x".repeat(32);
    expect(loadConfig({ DATA_DIR: dir }).demoLogin).toBe(true);
    expect(loadConfig({ DATA_DIR: dir, DEMO_LOGIN: "false" }).demoLogin).toBe(false);
    expect(loadConfig({ DATA_DIR: dir, JWT_SECRET: secret }).demoLogin).toBe(false);
    expect(loadConfig({ DATA_DIR: dir, JWT_SECRET: secret, DEMO_LOGIN: "true" }).demoLogin).toBe(true);
    expect(() =>
      loadConfig({
        DATA_DIR: dir,
        NODE_ENV: "production",
        JWT_SECRET: secret,
        DEMO_LOGIN: "true",
        PUBLIC_URL: "https://chat.example",
      }),
    ).toThrow(/DEMO_LOGIN: refused when NODE_ENV=production/);
    expect(
      loadConfig({
        DATA_DIR: dir,
        NODE_ENV: "production",
        JWT_SECRET: secret,
        PUBLIC_URL: "https://chat.example",
      }).demoLogin,
    ).toBe(false);
    expect(() => loadConfig({ DATA_DIR: dir, DEMO_LOGIN: "yes" })).toThrow(/DEMO_LOGIN/);
  });
});
