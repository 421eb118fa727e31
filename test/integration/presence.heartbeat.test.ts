import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import type { PresenceView } from "../../src/contract/views.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { onlineUsers } from "../../src/presence/online.ts";
import { Presence } from "../../src/presence/presence.ts";
import type { ChatServer } from "../../src/realtime/socket.server.ts";
import { Keys, presenceBucket, presenceBuckets } from "../../src/redis/redis.ts";
import { dropPrefix, REDIS_URL, uniquePrefix } from "../helpers/env.ts";

const prefix = uniquePrefix("presence-hb");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
const TTL_MS = 400;
const BEAT_MS = 100;

afterAll(async () => {
  await dropPrefix(prefix);
  redis.disconnect();
});

type Announced = { user_id: string } & PresenceView;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node: its Presence, the presence events it emitted, and the Redis commands it sent. */
function node() {
  const events: Announced[] = [];
  const io = {
    to: () => ({ emit: (_event: string, payload: Announced) => events.push(payload) }),
  } as unknown as ChatServer;
  const client = new Redis(REDIS_URL);
  const commands: string[] = [];
  const send = client.sendCommand.bind(client);
  client.sendCommand = (command) => {
    commands.push(command.name);
    return send(command);
  };
  const presence = new Presence({
    io,
    redis: client,
    keys,
    store: { directPartners: async () => ["partner"], shareRoom: async () => true },
    config: { ttlMs: TTL_MS, heartbeatMs: BEAT_MS },
    logger: createLogger("silent", "test"),
  });
  return {
    presence,
    events,
    commands,
    offline: (user: string) => events.filter((e) => e.user_id === user && !e.online).length,
    close: () => {
      presence.stop();
      client.disconnect();
    },
  };
}

const online = async (users: string[]) => onlineUsers(redis, keys, users);
const users = (tag: string, n: number) => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

describe("presence heartbeat", () => {
  it("costs one script per bucket a beat, whatever the number of idle sockets", async () => {
    const a = node();
    a.presence.start();
    const people = users("idle", 300);
    await Promise.all(people.map((u, i) => a.presence.connected(`s${i}`, u)));
    expect((await online(people)).size).toBe(300);
    a.commands.length = 0;
    await sleep(BEAT_MS * 5 + 50);
    const beats = a.commands.length / presenceBuckets().length;
    expect(a.commands.every((c) => c === "evalsha")).toBe(true);
    expect(Number.isInteger(beats) && beats >= 4 && beats <= 6).toBe(true);
    await Promise.all(people.map((u, i) => a.presence.disconnected(`s${i}`, u)));
    expect((await online(people)).size).toBe(0);
    a.close();
  });

  it("takes a dead node's users offline exactly once, however many nodes sweep, and keeps users with a socket elsewhere", async () => {
    const [dead, b, c] = [node(), node(), node()];
    dead.presence.start();
    b.presence.start();
    c.presence.start();
    const people = users("dead", 40);
    await Promise.all(people.map((u, i) => dead.presence.connected(`d${i}`, u)));
    await b.presence.connected("b0", "dead-0"); // also connected through a live node
    expect((await online(people)).size).toBe(40);
    dead.presence.stop(); // killed: no disconnects, no more beats
    await sleep(TTL_MS + BEAT_MS * 4);
    const now = await online(people);
    expect([...now]).toEqual(["dead-0"]);
    for (const u of people.slice(1)) expect(b.offline(u) + c.offline(u), u).toBe(1);
    expect(b.offline("dead-0") + c.offline("dead-0")).toBe(0);
    expect(await redis.get(keys.presenceSeen("dead-1"))).not.toBeNull();
    // Dead nodes (this one and the first test's) are gone from every bucket: b and c are left.
    for (const bucket of presenceBuckets()) expect(await redis.zcard(keys.presenceNodes(bucket))).toBe(2);
    await b.presence.disconnected("b0", "dead-0");
    expect(b.offline("dead-0")).toBe(1);
    expect((await online(["dead-0"])).size).toBe(0);
    for (const n of [dead, b, c]) n.close();
  });

  it("registers a node's sockets again when it comes back from a pause longer than the TTL", async () => {
    const [paused, b] = [node(), node()];
    paused.presence.start();
    b.presence.start();
    const people = users("paused", 10);
    await Promise.all(people.map((u, i) => paused.presence.connected(`p${i}`, u)));
    paused.presence.stop();
    await sleep(TTL_MS + BEAT_MS * 4);
    expect((await online(people)).size).toBe(0); // swept by b
    paused.presence.start(); // the sockets were open all along
    await sleep(BEAT_MS * 2);
    expect((await online(people)).size).toBe(10);
    expect(paused.events.filter((e) => e.online).length).toBe(20); // online, then online again
    for (const n of [paused, b]) n.close();
  });

  it("reads nobody as online when no node heartbeats", async () => {
    const a = node();
    a.presence.start();
    await a.presence.connected("z0", "lonely");
    await sleep(50);
    expect((await online(["lonely"])).size).toBe(1);
    a.close();
    await sleep(TTL_MS + 50);
    // Still listed (nobody swept it), but its node's heartbeat ran out.
    expect(await redis.zscore(keys.presenceOnline(presenceBucket("lonely")), "lonely")).not.toBeNull();
    expect((await online(["lonely"])).size).toBe(0);
  });
});
