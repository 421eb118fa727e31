import type { RequestHandler, Router } from "express";
import type { z } from "zod";

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
  /** The success status (and what comes back: the wrapper key, e.g. "room", or a description). */
  status: number;
  returns?: string;
  /** The success body's media type, when not JSON. */
  produces?: string;
};

export type RegisteredRoute = RouteSpec & { fullPath: string };

/** Every route the app mounts, by "method path" (the same route mounted twice is one entry). */
const registered = new Map<string, RegisteredRoute>();

/**
 * Mounts a route and records its spec: the one way routes are declared (test/unit/openapi.test.ts
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
