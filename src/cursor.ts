import type { z } from "zod";
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
