import type { RequestHandler, Router } from "express";
import type { z } from "zod";
import type { ErrorCode } from "../kernel/errors.ts";

/** Where the chat API lives; the OpenAPI document lists absolute paths. */
export const CHAT_BASE = "/api/v1/chat";

/** Who may call: a user's token (default), an admin's, anyone, or whoever holds a signed URL. */
export type Access = "user" | "admin" | "public" | "signed-url";

/** What the OpenAPI document says of a route; its input schemas are the ones the handler parses. */
export type RouteSpec = {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** Express style, relative to the router's mount (`/rooms/:room_id`). */
  path: string;
  summary: string;
  tag: string;
  access?: Access;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /**
   * Every success status the handler answers, the usual one first (a get-or-create answers 201
   * or 200); all of them carry the same body.
   */
  status: number | readonly [number, ...number[]];
  /** The success body's schema (JSON), or null for none; without one the document says only "an object". */
  response?: z.ZodType | null;
  /** What comes back, in words (the description of the success responses). */
  returns?: string;
  /** The success body's media type, when not JSON. */
  produces?: string;
  /** The errors this route's handler raises beyond those `errorCodes` adds for every route like it. */
  errors?: readonly ErrorCode[];
};

export type RegisteredRoute = RouteSpec & { fullPath: string };

/** Every route the app mounts, by "method path" (the same route mounted twice is one entry). */
const registered = new Map<string, RegisteredRoute>();

/**
 * Mounts a route and records its spec: the one way routes are declared (test/e2e/openapi.test.ts
 * fails on a router call that bypasses it), so the OpenAPI document cannot drift from what is
 * served.
 */
export function route(router: Router, base: string, spec: RouteSpec, ...handlers: RequestHandler[]): void {
  const fullPath = `${base}${spec.path}`;
  registered.set(`${spec.method} ${fullPath}`, { ...spec, fullPath });
  router[spec.method](spec.path, ...handlers);
}

export function registeredRoutes(): RegisteredRoute[] {
  return [...registered.values()];
}

export function successStatuses(r: RouteSpec): readonly number[] {
  return typeof r.status === "number" ? [r.status] : r.status;
}

/**
 * Every error a route can answer: its own (`errors`) and those of the machinery in front of
 * it, so a route spec lists only what its handler decides. Any route can fail (500); a chat
 * route sits behind authentication and the JSON body parser (http.app.ts: 401, 400, 413, 415),
 * reaches Redis and the store (503), and may not find what its path names (404, members only
 * see their rooms); an admin route also refuses a user (403); a route that parses input refuses
 * bad input (400, percent-encoding included), and one that takes a body refuses one too large or
 * not JSON (413, 415).
 */
export function errorCodes(r: RegisteredRoute): ErrorCode[] {
  const codes = new Set<ErrorCode>(["internal"]);
  const add = (...more: ErrorCode[]) => {
    for (const c of more) codes.add(c);
  };
  const access = r.access ?? "user";
  if (r.fullPath.startsWith(`${CHAT_BASE}/`)) {
    add("unauthenticated", "invalid_request", "payload_too_large", "unsupported_media_type", "unavailable");
    if (r.params) add("not_found");
  }
  if (access === "admin") add("unauthenticated", "forbidden");
  if (r.params || r.query || r.body) add("invalid_request");
  if (r.body) add("payload_too_large", "unsupported_media_type");
  add(...(r.errors ?? []));
  return [...codes];
}
