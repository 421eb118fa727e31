import { describe, expect, it } from "vitest";
import { pageLimitSchema } from "../../src/kernel/cursor.ts";
import { syncMessagesSchema } from "../../src/sync/sync.schemas.ts";

describe("a page's limit", () => {
  it("is a number (socket payloads) or digits (query strings) from 1 to 100, 50 when absent", () => {
    expect(pageLimitSchema.parse(7)).toBe(7);
    expect(pageLimitSchema.parse("100")).toBe(100);
    expect(pageLimitSchema.parse(undefined)).toBe(50);
  });

  it("refuses what only a coercion would read as one", () => {
    for (const bad of [[1], ["1"], "1e2", " 5", "", "0x10", 0, 101, "101", 2.5, "-1", true, null, {}]) {
      expect(pageLimitSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });

  it("holds for the socket's messages:sync payload, which arrives as JSON", () => {
    const ok = { device_id: "phone-1", limit: 3 };
    expect(syncMessagesSchema.strict().safeParse(ok).success).toBe(true);
    expect(syncMessagesSchema.strict().safeParse({ ...ok, limit: [1] }).success).toBe(false);
  });
});
