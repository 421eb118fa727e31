import { decodeTime, isValid } from "ulid";
import { describe, expect, it } from "vitest";
import { newId } from "../../src/kernel/ids.ts";

describe("newId", () => {
  it("makes valid, unique, strictly increasing ULIDs from the pooled PRNG", () => {
    const ids = Array.from({ length: 20_000 }, () => newId());
    expect(ids.every(isValid)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (let i = 1; i < ids.length; i++) expect((ids[i] ?? "") > (ids[i - 1] ?? "")).toBe(true);
    expect(Math.abs(decodeTime(ids[0] ?? "") - Date.now())).toBeLessThan(5000);
  });

  it("spreads the random part (not a constant from a stuck pool)", () => {
    const a = newId();
    const later = Array.from({ length: 5000 }, () => newId()).at(-1) ?? "";
    // Random parts of ids from different milliseconds differ beyond the increment.
    expect(a.slice(10, 20)).not.toBe(later.slice(10, 20));
  });
});
