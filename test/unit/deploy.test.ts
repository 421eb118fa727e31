import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CONFIG_KEYS } from "../../src/config/config.ts";

const root = path.resolve(import.meta.dirname, "../..");
const read = (file: string) => readFileSync(path.join(root, file), "utf8");
/** The process counts ecosystem.config.js reads (PM2's, not the app's). */
const PM2_KEYS = [...read("ecosystem.config.js").matchAll(/env\("([A-Z_]+)"/g)].map((m) => m[1] ?? "");
const KNOWN = new Set([...CONFIG_KEYS, ...PM2_KEYS]);
const scripts = (JSON.parse(read("package.json")) as { scripts: Record<string, string> }).scripts;

describe("deployment files agree with the code", () => {
  it(".env.example documents exactly the variables the configuration and PM2 read", () => {
    const documented = [...read(".env.example").matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1] ?? "");
    const unknown = documented.filter((k) => !KNOWN.has(k));
    expect(unknown).toEqual([]);
    const missing = [...KNOWN].filter((k) => !documented.includes(k));
    expect(missing).toEqual([]);
  });

  it("docker-compose.yml sets only known variables for the app, and runs only npm scripts that exist", () => {
    const compose = parse(read("docker-compose.yml"), { merge: true }) as {
      services: Record<
        string,
        { build?: string; image?: string; command?: string[]; environment?: Record<string, unknown> }
      >;
    };
    const apps = Object.entries(compose.services).filter(([, s]) => s.build === ".");
    expect(apps.map(([name]) => name).sort()).toEqual([
      "api",
      "couchbase-schema",
      "fanout",
      "media",
      "notify",
      "persist",
    ]);
    for (const [name, service] of apps) {
      const unknown = Object.keys(service.environment ?? {}).filter((k) => !KNOWN.has(k));
      expect(unknown, name).toEqual([]);
      const [npm, run, script] = service.command ?? [];
      expect([npm, run], name).toEqual(["npm", "run"]);
      expect(scripts[script ?? ""], `${name}: npm run ${script}`).toBeDefined();
    }
    // Every pool is its own service; the workers' argument names a pool.
    for (const pool of ["persist", "media", "fanout", "notify"]) {
      expect(compose.services[pool]?.command?.at(-1)).toBe(pool);
    }
  });

  it("the one-shot shell scripts are one line each (a folded block keeps a deeper-indented line's break)", () => {
    const compose = parse(read("docker-compose.yml"), { merge: true }) as {
      services: Record<string, { entrypoint?: string[]; command?: string[] }>;
    };
    const scripts = Object.entries(compose.services).filter(([, s]) => s.entrypoint?.at(-1) === "-c");
    expect(scripts.map(([name]) => name).sort()).toEqual([
      "couchbase-cluster-init",
      "minio-init",
      "redis-cluster-init",
    ]);
    for (const [name, s] of scripts) expect(s.command?.join(" "), name).not.toContain("\n");
  });

  it("the process scripts exec node, so a stop signal reaches the process itself", () => {
    for (const name of ["start", "start:api", "start:worker"]) expect(scripts[name], name).toMatch(/^exec /);
  });
});
