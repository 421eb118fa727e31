import { z } from "zod";
import { createDocument } from "zod-openapi";
import { ERROR_STATUS } from "../contract/error-codes.ts";
import { ERROR_CODES } from "../kernel/errors.ts";
import { errorCodes, registeredRoutes, successStatuses } from "./route.ts";

/** The one error body every endpoint answers with (docs/api.md "Errors"). */
const errorBodySchema = z
  .strictObject({
    error: z.strictObject({
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

const retryAfter = {
  "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "integer" as const } },
};

/**
 * The OpenAPI 3.1 document, generated from the route registry (src/http/route.ts): each route's
 * parameter, query and body schemas are the zod schemas route() parses for it, its success
 * statuses and body schema are the ones its spec declares, and its error statuses are its own
 * plus those of the machinery in front of it (route.ts `errorCodes`), each with the Error body.
 */
export function openApiDocument(): ReturnType<typeof createDocument> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of registeredRoutes()) {
    const path = r.fullPath.replace(/:([A-Za-z_]+)/g, "{$1}");
    const access = r.access ?? "user";
    const responses: Record<string, unknown> = {};
    for (const status of successStatuses(r)) {
      responses[String(status)] =
        status === 204 || r.response === null
          ? { description: "Done; no body." }
          : {
              description: r.returns ?? "Success.",
              content: r.produces
                ? { [r.produces]: { schema: z.string() } }
                : { "application/json": { schema: r.response ?? anyBody } },
            };
    }
    for (const code of errorCodes(r)) {
      const status = String(ERROR_STATUS[code]);
      if (responses[status]) continue; // a status the route itself answers with its own body (readyz's 503)
      responses[status] = {
        description: `\`${code}\``,
        ...(code === "rate_limited" || code === "unavailable" ? { headers: retryAfter } : {}),
        content: { "application/json": { schema: errorBodySchema } },
      };
    }
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
      responses: Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b))),
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
