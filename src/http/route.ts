import type { Request, RequestHandler, Response, Router } from "express";
import type { z } from "zod";
import { type ErrorCode, parse } from "../kernel/errors.ts";

/** Where the chat API lives; the OpenAPI document lists absolute paths. */
export const CHAT_BASE = "/api/v1/chat";

/** Who may call: a user's token (default), an admin's, anyone, or whoever holds a signed URL. */
type Access = "user" | "admin" | "public" | "signed-url";

type ParamsSchema = z.ZodObject | undefined;
type QuerySchema = z.ZodObject | undefined;
type BodySchema = z.ZodType | undefined;

/**
 * What the OpenAPI document says of a route; route() parses its input schemas before the
 * handler runs, so the document shows exactly what is checked.
 */
export type RouteSpec<
  P extends ParamsSchema = ParamsSchema,
  Q extends QuerySchema = QuerySchema,
  B extends BodySchema = BodySchema,
> = {
  method: "get" | "post" | "put" | "patch" | "delete";
  /** Express style, relative to the router's mount (`/rooms/:room_id`). */
  path: string;
  summary: string;
  tag: string;
  access?: Access;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * The handler checks the raw request by its own rules and route() parses nothing: a signed
   * URL answers 403 for any bad part, never 400 (its schemas only document it).
   */
  rawInput?: boolean;
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

type Parsed<S> = S extends z.ZodType ? z.infer<S> : undefined;

/** What a handler gets: its spec's schemas parsed, undefined where the spec names none. */
export type RouteInput<P extends ParamsSchema, Q extends QuerySchema, B extends BodySchema> = {
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
};

/** The last handler of a route; `req` and `res` stay for headers, streams and raw bodies. */
export type RouteHandler<I> = (input: I, req: Request, res: Response) => void | Promise<void>;

/**
 * Mounts a route and records its spec: the one way routes are declared (test/e2e/openapi.test.ts
 * fails on a router call that bypasses it), so the OpenAPI document cannot drift from what is
 * served. Middlewares run first (a body parser, authentication); then the spec's params, query
 * and body are parsed, in that order (a failure is a 400 through the error handler), and the
 * handler gets them. A rejected promise reaches the error handler (Express 5).
 */
export function route<
  P extends ParamsSchema = undefined,
  Q extends QuerySchema = undefined,
  B extends BodySchema = undefined,
  Raw extends boolean = false,
>(
  router: Router,
  base: string,
  spec: RouteSpec<P, Q, B> & { rawInput?: Raw },
  ...handlers: [
    ...RequestHandler[],
    RouteHandler<Raw extends true ? RouteInput<undefined, undefined, undefined> : RouteInput<P, Q, B>>,
  ]
): void {
  const fullPath = `${base}${spec.path}`;
  registered.set(`${spec.method} ${fullPath}`, { ...spec, fullPath });
  // The parameter's tuple type puts the handler last; TypeScript cannot narrow by position.
  const middlewares = handlers.slice(0, -1) as RequestHandler[];
  const handler = handlers.at(-1) as RouteHandler<RouteInput<P, Q, B>>;
  const raw = spec.rawInput === true;
  // An object literal evaluates in order: params, then query, then body, the first failure wins.
  const input = (req: Request) =>
    ({
      params: spec.params && !raw ? parse(spec.params, req.params) : undefined,
      query: spec.query && !raw ? parse(spec.query, req.query) : undefined,
      body: spec.body && !raw ? parse(spec.body, req.body) : undefined,
    }) as RouteInput<P, Q, B>;
  router[spec.method](spec.path, ...middlewares, (req: Request, res: Response) =>
    handler(input(req), req, res),
  );
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
