import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { io as connectClient, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenVerifier } from "../../src/auth/jwt.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { SocketAdmission } from "../../src/realtime/admission.ts";
import { createSocketServer } from "../../src/realtime/socket.server.ts";
import type { Store } from "../../src/store/store.ts";
import { REDIS_URL, TEST_SECRET, token, uniquePrefix } from "../helpers/env.ts";

/** Room lookups wait for the test to open the gate (or the user's own): handshakes stay under way until then. */
let gate = Promise.withResolvers<void>();
const gates = new Map<string, PromiseWithResolvers<void>>();
const store = {
  listRoomIdsForUser: async (user: string) => {
    await (gates.get(user) ?? gate).promise;
    return [];
  },
} as unknown as Store;

const pub = new Redis(REDIS_URL);
const sub = new Redis(REDIS_URL);
const limits = { maxHandshakes: 2, slowHandshakeMs: 10_000, retryAfterS: 3 };
const admission = new SocketAdmission(limits);
const io = createSocketServer({
  pub,
  sub,
  adapterKey: uniquePrefix("admission"),
  cluster: false,
  roomsReady: async () => {},
  verifier: new TokenVerifier({ key: { kind: "secret", secret: TEST_SECRET, generated: false } }),
  store,
  logger: createLogger("silent", "test"),
  corsOrigins: [],
  admission,
});
const server = createServer();
let base = "";
const clients: Socket[] = [];

beforeAll(async () => {
  io.attach(server);
  admission.guard(io);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const c of clients) c.close();
  await new Promise<void>((r) => io.close(() => r()));
  pub.disconnect();
  sub.disconnect();
});

const open = (user: string, transport: "websocket" | "polling") => {
  const c = connectClient(base, {
    transports: [transport],
    auth: { token: token(user) },
    reconnection: false,
  });
  clients.push(c);
  return c;
};
const outcome = (c: Socket) =>
  new Promise<string>((resolve) => {
    c.once("connect", () => resolve("connected"));
    c.once("connect_error", (err) => resolve(`error: ${err.message}`));
  });

/** A raw handshake on either transport: status and Retry-After as any HTTP client sees them. */
function rawHandshake(transport: "websocket" | "polling"): Promise<{ status: number; retryAfter: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}/socket.io/?EIO=4&transport=${transport}`, {
      headers:
        transport === "websocket"
          ? {
              Connection: "Upgrade",
              Upgrade: "websocket",
              "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            }
          : {},
    });
    req.on("response", (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, retryAfter: String(res.headers["retry-after"]) });
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, retryAfter: "" });
    });
    req.on("error", reject);
    req.end();
  });
}

describe("socket admission (load shedding)", () => {
  it("refuses new sessions with 503 + Retry-After while the cap is under way, on both transports, and admits again once they settle", async () => {
    const first = open("adm-1", "websocket");
    const second = open("adm-2", "polling");
    const firstDone = outcome(first);
    const secondDone = outcome(second);
    await expect.poll(() => admission.underWay).toBe(2);

    expect(await rawHandshake("websocket")).toEqual({ status: 503, retryAfter: "3" });
    expect(await rawHandshake("polling")).toEqual({ status: 503, retryAfter: "3" });
    expect(await outcome(open("adm-3", "websocket"))).toMatch(/^error: /);

    gate.resolve();
    expect(await firstDone).toBe("connected");
    expect(await secondDone).toBe("connected");
    expect(admission.underWay).toBe(0);
    // Open sessions keep working (their polling requests carry a sid and are never shed).
    expect(second.connected && first.connected).toBe(true);
    expect(await outcome(open("adm-4", "polling"))).toBe("connected");
    expect(admission.underWay).toBe(0);
  });

  it("releases a handshake whose client went away before it finished, and one refused by auth", async () => {
    gate = Promise.withResolvers<void>();
    const quitter = open("adm-5", "websocket");
    await expect.poll(() => admission.underWay).toBe(1);
    quitter.close();
    await expect.poll(() => admission.underWay).toBe(0);

    const bad = connectClient(base, {
      transports: ["websocket"],
      auth: { token: "nope" },
      reconnection: false,
    });
    clients.push(bad);
    expect(await outcome(bad)).toMatch(/unauthenticated/);
    await expect.poll(() => admission.underWay).toBe(0);
    gate.resolve();
  });

  it("refuses new sessions while recent handshakes were slow and some are under way, and forgets once none is", async () => {
    limits.maxHandshakes = 10;
    limits.slowHandshakeMs = 100;
    for (const u of ["slow-1", "slow-2"]) gates.set(u, Promise.withResolvers<void>());
    const first = open("slow-1", "websocket");
    const second = open("slow-2", "websocket");
    const firstDone = outcome(first);
    const secondDone = outcome(second);
    await expect.poll(() => admission.underWay).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    gates.get("slow-1")?.resolve();
    expect(await firstDone).toBe("connected"); // decided after ~300 ms: slow
    expect(await rawHandshake("websocket")).toEqual({ status: 503, retryAfter: "3" });
    gates.get("slow-2")?.resolve();
    expect(await secondDone).toBe("connected");
    expect(admission.underWay).toBe(0);
    gates.set("fast", Promise.withResolvers<void>());
    gates.get("fast")?.resolve();
    expect(await outcome(open("fast", "polling"))).toBe("connected");
  });
});
