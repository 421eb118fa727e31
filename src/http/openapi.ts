import { z } from "zod";
import { createDocument } from "zod-openapi";
import { ERROR_CODES } from "../errors.ts";
import { registeredRoutes } from "./route.ts";

/** The one error body every endpoint answers with (docs/api.md "Errors"). */
export const errorBodySchema = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES),
      message: z.string(),
      details: z.unknown().optional().describe("zod's issues for invalid_request; limits for others"),
    }),
  })
  .meta({
    id: "Error",
    example: { error: { code: "not_found", message: "room not found" } },
  });

const anyBody = z.object({}).catchall(z.unknown());

/**
 * The OpenAPI 3.1 document, generated from the route registry (src/http/route.ts): each route's
 * parameter, query and body schemas are the zod schemas its handler parses, turned into JSON
 * Schema by zod-openapi. Response bodies are described (their wrapper key), not typed: views
 * are TypeScript types, not zod schemas.
 */
export function openApiDocument(): ReturnType<typeof createDocument> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of registeredRoutes()) {
    const path = r.fullPath.replace(/:([A-Za-z_]+)/g, "{$1}");
    const access = r.access ?? "user";
    const ok =
      r.status === 204
        ? { description: "Done; no body." }
        : {
            description: r.returns ?? "Success.",
            content: r.produces
              ? { [r.produces]: { schema: z.string() } }
              : { "application/json": { schema: anyBody } },
          };
    paths[path] ??= {};
    paths[path][r.method] = {
      summary: r.summary,
      tags: [r.tag],
      operationId: `${r.method}_${r.fullPath.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_|_$/g, "")}`,
      security: access === "user" || access === "admin" ? [{ bearer: [] }] : [],
      ...(r.params || r.query
        ? {
            requestParams: {
              ...(r.params ? { path: r.params } : {}),
              ...(r.query ? { query: r.query } : {}),
            },
          }
        : {}),
      ...(r.body
        ? { requestBody: { required: true, content: { "application/json": { schema: r.body } } } }
        : {}),
      responses: {
        [String(r.status)]: ok,
        "4XX": {
          description: "A client error (see `error.code`).",
          content: { "application/json": { schema: errorBodySchema } },
        },
        "5XX": {
          description: "`unavailable` (retry after `Retry-After`) or `internal`.",
          content: { "application/json": { schema: errorBodySchema } },
        },
      },
    };
  }
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "chat-backend",
      version: "1",
      description:
        "REST half of the chat API (the Socket.IO half is in docs/api.md). Every `/api/v1/chat` call takes `Authorization: Bearer <JWT>`.",
    },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    paths: paths as Parameters<typeof createDocument>[0]["paths"],
  });
}
