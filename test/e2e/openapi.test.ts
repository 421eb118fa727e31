import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId } from "../../src/kernel/ids.ts";
import { dropPrefix, removeDir, tempDir, testEnv, token, uniquePrefix } from "../helpers/env.ts";
import { Client, checkedFetch } from "../helpers/http.ts";
import {
  checkObserved,
  clearViolations,
  type OpenApiDoc,
  ResponseValidator,
} from "../helpers/openapi-responses.ts";
import { type Proc, startApiProcess } from "../helpers/processes.ts";

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
};

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

  it("every operation lists the errors of what stands in front of it, each with the Error body", () => {
    for (const [p, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const statuses = Object.keys(op.responses);
        const where = `${method.toUpperCase()} ${p}`;
        expect(statuses, where).toContain("500");
        expect(
          statuses.some((s) => /^[45]XX$/.test(s)),
          where,
        ).toBe(false);
        if (p.startsWith("/api/v1/chat/")) {
          expect(statuses, where).toEqual(expect.arrayContaining(["400", "401", "413", "415", "503"]));
        }
        for (const status of statuses.filter((s) => Number(s) >= 400 && !(p === "/readyz" && s === "503"))) {
          expect(JSON.stringify(op.responses[status]), `${where} ${status}`).toContain(
            '"#/components/schemas/Error"',
          );
        }
      }
    }
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

describe("every response matches the document (test/helpers/openapi-responses.ts checks each e2e call)", () => {
  const messages = "/api/v1/chat/rooms/{room_id}/messages";
  const ok = (status: number, body: unknown) => ({
    method: "POST",
    path: `/api/v1/chat/rooms/${newId()}/messages`,
    status,
    contentType: "application/json; charset=utf-8",
    text: JSON.stringify(body),
  });

  it("flags an undeclared status, a body off its schema, a wrong media type and an unexpected body", () => {
    const v = new ResponseValidator(doc as unknown as OpenApiDoc);
    expect(v.template(`/api/v1/chat/rooms/${newId()}/messages`)).toBe(messages);
    expect(v.template("/api/v1/chat/search/messages")).toBe("/api/v1/chat/search/messages");
    expect(v.violations(ok(418, {}))).toEqual([expect.stringContaining("status not in the document")]);
    expect(v.violations(ok(201, { message: { id: "not-a-ulid" } }))).toEqual([
      expect.stringContaining("body does not match the schema"),
    ]);
    expect(v.violations(ok(404, { error: { code: "not_found", message: "room not found" } }))).toEqual([]);
    expect(v.violations(ok(404, { error: { code: "nope", message: "x" } }))).toHaveLength(1);
    expect(v.violations({ ...ok(404, {}), contentType: "text/html" })).toEqual([
      expect.stringContaining('content type "text/html"'),
    ]);
    const receipt = { ...ok(204, {}), path: `/api/v1/chat/rooms/${newId()}/read` };
    expect(v.violations({ ...receipt, text: "" })).toEqual([]);
    expect(v.violations(receipt)).toEqual([
      expect.stringContaining("a body where the document declares none"),
    ]);
    // Paths and methods the document does not list are "no such endpoint": not its business.
    expect(v.violations({ ...ok(404, {}), path: "/api/v1/chat/nowhere" })).toEqual([]);
  });

  it("the two statuses the validating proxy caught are declared, with the body they carry (issue 18 item 5)", async () => {
    const ann = new Client(api.base, token("oa-ann"));
    const first = await ann.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "direct",
      member_id: "oa-bob",
    });
    const again = await ann.call("POST", "/rooms", { type: "direct", member_id: "oa-bob" });
    expect([first.status, again.status]).toEqual([201, 200]);
    const send = { client_id: "oa-1", type: "text", text: "hi" };
    const sent = await ann.call("POST", `/rooms/${first.body.room.id}/messages`, send);
    const repeated = await ann.call("POST", `/rooms/${first.body.room.id}/messages`, send);
    expect([sent.status, repeated.status]).toEqual([201, 200]);
    expect(await checkObserved()).toEqual([]);
    // The document before the fix (201 only) fails both answers.
    const before = structuredClone(doc) as unknown as OpenApiDoc;
    delete before.paths["/api/v1/chat/rooms"]?.post?.responses?.["200"];
    delete before.paths[messages]?.post?.responses?.["200"];
    const v = new ResponseValidator(before);
    const seen = (path: string, r: { status: number; body: unknown }) =>
      v.violations({
        method: "POST",
        path,
        status: r.status,
        contentType: "application/json",
        text: JSON.stringify(r.body),
      });
    expect(seen("/api/v1/chat/rooms", again)).toEqual([
      expect.stringContaining("POST /api/v1/chat/rooms 200: status not in"),
    ]);
    expect(seen(`/api/v1/chat/rooms/${first.body.room.id}/messages`, repeated)).toEqual([
      expect.stringContaining(`POST ${messages} 200: status not in`),
    ]);
  });

  it("records what a call through the helpers gets that the document does not allow, for afterAll to fail the file", async () => {
    // Errors raised in front of the handlers (the admin check, the JSON parser) are declared too.
    const metrics = await checkedFetch(api.base, "/metrics", {
      headers: { authorization: `Bearer ${token("oa-ann")}` },
    });
    expect(metrics.status).toBe(403);
    const malformed = await checkedFetch(api.base, "/api/v1/chat/rooms", {
      method: "POST",
      headers: { authorization: `Bearer ${token("oa-ann")}`, "content-type": "application/json" },
      body: "{not json",
    });
    expect(malformed.status).toBe(400);
    expect(await checkObserved()).toEqual([]);
    // A response the document does not allow, seen through the same path as every e2e call.
    const ann = new Client(api.base, token("oa-ann"));
    const original = globalThis.fetch;
    globalThis.fetch = (async (input: Parameters<typeof fetch>[0], init?: RequestInit) =>
      String(input).endsWith("/unread")
        ? new Response("teapot", { status: 418, headers: { "content-type": "text/plain" } })
        : original(input, init)) as typeof fetch;
    try {
      expect((await ann.call("GET", "/unread").catch(() => ({ status: 418 }))).status).toBe(418);
    } finally {
      globalThis.fetch = original;
    }
    expect(await checkObserved()).toEqual([
      expect.stringContaining("GET /api/v1/chat/unread 418: status not in the document"),
    ]);
    clearViolations();
  });
});
