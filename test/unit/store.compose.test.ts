import { describe, expect, expectTypeOf, it } from "vitest";
import { composeStore } from "../../src/store/store.compose.ts";
import type { Disjoint, StorePorts } from "../../src/store/store.ts";

type A = { get(): void; put(): void };
type B = { list(): void };

describe("Disjoint (type level: tsc checks these lines)", () => {
  it("takes ports with no method name in common", () => {
    expectTypeOf<Disjoint<{ a: A; b: B }>>().toEqualTypeOf<{ a: A; b: B }>();
  });

  it("refuses two ports with one method name", () => {
    // @ts-expect-error `get` is in both ports
    expectTypeOf<Disjoint<{ a: A; b: B & { get(): void } }>>();
  });
});

/** A part answering every name with a method that tells which part ran it, and whether bound to it. */
function fakePart(port: string): object {
  const part: object = new Proxy(
    {},
    {
      get: (_target, name) =>
        function (this: unknown) {
          return Promise.resolve([port, name, this === part]);
        },
    },
  );
  return part;
}

describe("composeStore", () => {
  it("takes each method from the part serving its port, bound to that part", async () => {
    // Every part also answers the other ports' names (as an adapter class serving two ports does).
    const parts = new Proxy({}, { get: (_target, port) => fakePart(String(port)) }) as StorePorts;
    const store = composeStore(parts);
    const { getRoom, memberRooms, listMemberIds, ping } = store;
    expect(await getRoom("r")).toEqual(["rooms", "getRoom", true]);
    expect(await listMemberIds("r")).toEqual(["members", "listMemberIds", true]);
    expect(await memberRooms("u")).toEqual(["sync", "memberRooms", true]);
    expect(await ping()).toEqual(["lifecycle", "ping", true]);
    // Only the ports' methods, as own properties: nothing else a part answers to.
    expect(Object.keys(store)).toContain("searchMessages");
    expect(Object.keys(store)).not.toContain("constructor");
  });
});
