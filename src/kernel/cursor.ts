import { z } from "zod";
import { AppError, parse } from "./errors.ts";

/** An opaque paging cursor: the keyset as base64url JSON. */
export function encodeCursor(keyset: Record<string, string>): string {
  return Buffer.from(JSON.stringify(keyset)).toString("base64url");
}

/** Reads a cursor back; anything that is not one this server made is a 400. */
export function decodeCursor<S extends z.ZodType>(cursor: string, schema: S): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new AppError("invalid_request", "cursor is invalid");
  }
  return parse(schema, raw);
}

/**
 * A page's `limit` (1–100, default 50): a number in a socket payload, digits in a query string.
 * Nothing else is read as one (`[1]`, `1e2`, ` 5` are a 400, not silently coerced).
 */
export const pageLimitSchema = z
  .union([
    z.number(),
    z
      .string()
      .regex(/^\d{1,3}$/, "must be an integer from 1 to 100")
      .transform(Number),
  ])
  .pipe(z.number().int().min(1).max(100))
  .default(50);
