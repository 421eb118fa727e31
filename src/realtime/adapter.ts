import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { Emitter } from "@socket.io/redis-emitter";
import { Server } from "socket.io";
import type { ClientToServerEvents, InterServerEvents, ServerToClientEvents } from "../contract/events.ts";
import type { RedisClient } from "../redis/redis.ts";

/**
 * The Socket.IO adapter: on one Redis the classic one (PUBLISH/SUBSCRIBE); on Redis Cluster the
 * sharded one (SPUBLISH/SSUBSCRIBE, Redis 7), where a broadcast to one room goes on that room's
 * own channel ("dynamic" mode), so channels spread over the shards instead of every node
 * receiving every message.
 */
export function socketAdapter(pub: RedisClient, sub: SubscriberLike, key: string, cluster: boolean) {
  return cluster
    ? createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode: "dynamic" })
    : // requestsTimeout bounds how long a membership change waits for other nodes to confirm socket moves.
      createAdapter(pub, sub, { key, requestsTimeout: 2000 });
}

/** Resolves once this node receives what other nodes broadcast to these Socket.IO rooms. */
export type RoomsReady = (rooms: string[]) => Promise<void>;

/**
 * The classic adapter subscribes to one pattern for every room at start. The sharded adapter in
 * "dynamic" mode subscribes to a room's channel when a local socket first joins it, without
 * waiting: a broadcast in between would pass this node by. So joins wait for the subscription:
 * SSUBSCRIBE on the adapter's own connection, for the channel it uses for the room
 * (`<prefix>#<namespace>#<room>#`), answered once Redis has it (a repeat is harmless).
 */
export function roomsReady(sub: RedisClient, key: string, cluster: boolean): RoomsReady {
  if (!cluster) return async () => {};
  return async (rooms) => {
    await Promise.all(rooms.map((room) => sub.ssubscribe(`${key}#/#${room}#`)));
  };
}

/**
 * The sharded adapter subscribes to its namespace channel and its own response channel when it
 * is made, without waiting; a node serves only once both are in place (broadcasts to several
 * rooms, and answers to its requests, come through them).
 */
export async function adapterReady(
  sub: RedisClient,
  key: string,
  uid: string | undefined,
  cluster: boolean,
): Promise<void> {
  if (!cluster) return;
  await sub.ssubscribe(`${key}#/#`);
  if (uid) await sub.ssubscribe(`${key}#/#${uid}#`);
}

/** The adapter's subscriber: a Redis connection, or (workers) one that subscribes to nothing. */
type SubscriberLike = RedisClient | typeof publishOnly;

/**
 * What events to clients go through: `to(rooms).emit(event, payload)`, received by every API
 * node. The API's Socket.IO server is one, and so is what workers publish with
 * (workerBroadcaster), so one class of events serves both.
 */
export type Broadcaster = {
  to(rooms: string | string[]): {
    emit<E extends keyof ServerToClientEvents>(
      event: E,
      ...args: Parameters<ServerToClientEvents[E]>
    ): unknown;
  };
};

/**
 * A subscriber that subscribes to nothing: the workers' adapter publishes only. Subscribed, a
 * worker would count as a Socket.IO node (SHARDNUMSUB), and every request that waits for all
 * nodes to answer (the membership moves) would wait for one that never answers.
 */
const publishOnly = { on: () => publishOnly, ssubscribe: () => {}, sunsubscribe: () => {} };

/**
 * Workers host no sockets. On one Redis they publish with the emitter; on Redis Cluster the
 * sharded adapter's channels and messages differ from the emitter's, so a server with no HTTP
 * listener and a publish-only sharded adapter does the publishing.
 */
export function workerBroadcaster(
  pub: RedisClient,
  key: string,
  cluster: boolean,
): { broadcaster: Broadcaster; close(): Promise<void> } {
  if (!cluster)
    return { broadcaster: new Emitter<ServerToClientEvents>(pub, { key }), close: async () => {} };
  const io = new Server<ClientToServerEvents, ServerToClientEvents, InterServerEvents>({
    // The API nodes' own adapter, so channels and messages are theirs by construction.
    adapter: socketAdapter(pub, publishOnly, key, true),
    serveClient: false,
  });
  return {
    broadcaster: io,
    // Never attached to an HTTP server: io.close() would fail on the missing engine. The
    // adapter holds no subscription; closing it is all there is.
    close: async () => {
      await io.of("/").adapter.close();
    },
  };
}
