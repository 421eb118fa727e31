/**
 * Redis servers the message-path benchmark starts for itself, to measure what durability
 * costs (BENCH_REDIS=durability): AOF on, in a temp dir under the OS temp dir (which must be a
 * real disk, not tmpfs: fsync is the cost being measured), on a free port, removed afterwards.
 * The shared Redis at 6379 (AOF off) is never the one measured.
 */
import { Redis } from "ioredis";
import { type RedisServer, startRedisServer } from "../test/helpers/redis-server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One redis-server with `appendonly yes` and the given `appendfsync`; a replica of `replicaOf` if given. */
export async function startDurableRedis(
  appendfsync: "everysec" | "always",
  replicaOf?: number,
): Promise<RedisServer> {
  const server = await startRedisServer([
    "--appendonly",
    "yes",
    "--appendfsync",
    appendfsync,
    "--maxmemory-policy",
    "noeviction",
    ...(replicaOf ? ["--replicaof", "127.0.0.1", String(replicaOf), "--repl-diskless-sync-delay", "0"] : []),
  ]);
  const probe = new Redis(server.url);
  try {
    const [, fsync] = (await probe.config("GET", "appendfsync")) as [string, string];
    if (fsync !== appendfsync) throw new Error(`redis on ${server.port}: appendfsync is ${fsync}`);
    // A replica counts for WAIT only once its first sync is done.
    for (let i = 0; replicaOf && !/master_link_status:up/.test(await probe.info("replication")); i++) {
      if (i >= 100) throw new Error(`redis on ${server.port}: no link to its primary on ${replicaOf}`);
      await sleep(100);
    }
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  } finally {
    probe.disconnect();
  }
}
