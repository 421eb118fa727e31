import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/ids.ts";
import { dropPrefix, removeDir, tempDir, testEnv, uniquePrefix } from "../helpers/env.ts";
import { type Proc, startApiProcess } from "../helpers/processes.ts";

type Doc = { openapi: string; paths: Record<string, Record<string, { security?: unknown[] }>> };

const prefix = uniquePrefix("openapi");
const dir = tempDir("openapi");
let api: Proc & { base: string };
let doc: Doc;
beforeAll(async () => {
  api = await startApiProcess(testEnv(prefix, dir));
  const res = await fetch(`${api.base}/api/v1/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});
afterAll(async () => {
  await api?.stop();
  await dropPrefix(prefix);
  removeDir(dir);
});

/** A value of the right format for each path parameter, so a request reaches its route. */
const sample: Record<string, () => string> = {
  room_id: newId,
  message_id: newId,
  media_id: newId,
  user_id: () => "someone",
  device_id: () => "a-device",
  key: () => `ob-${newId()}-${"A".repeat(22)}`,
};

const root = path.resolve(import.meta.dirname, "../..");
const sources = (dir: string): string[] =>
  readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => path.join(dir, f));

describe("the OpenAPI document (GET /api/v1/openapi.json)", () => {
  it("is public and a valid OpenAPI 3.1 document, with the bearer scheme and the error shape", async () => {
    expect(doc.openapi).toBe("3.1.0");
    const result = await new Validator().validate(doc as unknown as Parameters<Validator["validate"]>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    const text = JSON.stringify(doc);
    expect(text).toContain('"bearerFormat":"JWT"');
    expect(text).toContain('"#/components/schemas/Error"');
    expect(doc.paths["/api/v1/chat/rooms/{room_id}/messages"]?.post).toBeDefined();
  });

  it("every path in it is served (each answers something other than 'no such endpoint')", async () => {
    const operations = Object.entries(doc.paths).flatMap(([p, methods]) =>
      Object.keys(methods).map((m) => ({ path: p, method: m.toUpperCase() })),
    );
    expect(operations.length).toBeGreaterThan(40);
    for (const op of operations) {
      const url = op.path.replace(/\{([a-z_]+)\}/g, (_, name: string) => (sample[name] ?? (() => "x"))());
      const res = await fetch(`${api.base}${url}`, { method: op.method, redirect: "manual" });
      const body = await res.text();
      expect(body.includes("no such endpoint"), `${op.method} ${op.path}: ${res.status}`).toBe(false);
    }
  });

  it("every route the app serves is in it: routes are declared only through route(), which records them", () => {
    const bypass = [...sources("src"), ...sources("workers")].filter((f) => {
      if (f === path.join("src", "http", "route.ts")) return false;
      return /\brouter\.(get|post|put|patch|delete|all)\(/.test(readFileSync(path.join(root, f), "utf8"));
    });
    expect(bypass).toEqual([]);
    // The mounts that are not API routes: Bull Board's pages (an operator UI) and the web
    // client's files.
    const uses = sources("src").filter((f) =>
      /\brouter\.use\(/.test(readFileSync(path.join(root, f), "utf8")),
    );
    expect(uses.sort()).toEqual([
      path.join("src", "admin", "bull-board.routes.ts"),
      path.join("src", "web", "web-client.routes.ts"),
    ]);
  });
});
