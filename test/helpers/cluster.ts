import path from "node:path";
import { DatabaseSync } from "node:sqlite";
import { dropPrefix, REDIS_URL, removeDir, tempDir, testEnv, uniquePrefix } from "./env.ts";
import { type Proc, startApiProcess, startWorkerProcess } from "./processes.ts";

export type Cluster = {
  env: Record<string, string>;
  apis: (Proc & { base: string })[];
  workers: Proc[];
  dataDir: string;
  prefix: string;
  /** Row count and distinct ids of a room's stored messages, read straight from the SQLite file. */
  stored(roomId: string): { count: number; ids: Set<string>; seqs: number[] };
  stop(): Promise<void>;
};

/** API processes and persist workers sharing one Redis prefix and one SQLite file, like `npm start`. */
export async function startCluster(
  name: string,
  opts: { apis?: number; workers?: number; env?: Record<string, string>; redisUrl?: string } = {},
): Promise<Cluster> {
  const prefix = uniquePrefix(name);
  const dataDir = tempDir(name);
  const env = testEnv(prefix, dataDir, { REDIS_URL: opts.redisUrl ?? REDIS_URL, ...opts.env });
  const workers = Array.from({ length: opts.workers ?? 1 }, () => startWorkerProcess(env));
  const apis = await Promise.all(Array.from({ length: opts.apis ?? 2 }, () => startApiProcess(env)));
  let db: DatabaseSync | undefined;
  return {
    env,
    apis,
    workers,
    dataDir,
    prefix,
    stored(roomId) {
      db ??= new DatabaseSync(path.join(dataDir, "chat.sqlite"), { readOnly: true, timeout: 5000 });
      const rows = db.prepare("SELECT id, seq FROM messages WHERE room_id = ? ORDER BY seq").all(roomId);
      return {
        count: rows.length,
        ids: new Set(rows.map((r) => String(r.id))),
        seqs: rows.map((r) => Number(r.seq)),
      };
    },
    async stop() {
      db?.close();
      await Promise.all([...apis, ...workers].map((p) => p.stop("SIGKILL")));
      await dropPrefix(prefix, opts.redisUrl ?? REDIS_URL);
      removeDir(dataDir);
    },
  };
}
