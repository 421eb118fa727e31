import type { Socket } from "socket.io-client";
import { afterAll, beforeAll } from "vitest";
import { type Cluster, startCluster } from "./cluster.ts";
import { token } from "./env.ts";
import { Client } from "./http.ts";
import { connect, type Transport } from "./socket.ts";

export type TwoNodes = {
  readonly cluster: Cluster;
  readonly nodeA: string;
  readonly nodeB: string;
  /** A REST client for `user` on the node at `base`. */
  on(base: string, user: string): Client;
  /** A socket for `user` on the node at `base`, closed after the file. */
  open(base: string, user: string, transport?: Transport): Promise<Socket>;
  /** A group made by `creator` on node A; returns its id. */
  group(creator: string, members: string[]): Promise<string>;
};

/**
 * The usual end-to-end setup: two API processes and `workers` persist workers sharing one
 * Redis prefix and SQLite file, started before the file's tests and stopped after them.
 */
export function useTwoNodes(
  name: string,
  opts: { workers?: number; env?: Record<string, string> } = {},
): TwoNodes {
  let cluster: Cluster | undefined;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    cluster = await startCluster(name, { apis: 2, workers: opts.workers ?? 1, env: opts.env ?? {} });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await cluster?.stop();
  });
  const started = (): Cluster => {
    if (!cluster) throw new Error("the cluster starts in beforeAll");
    return cluster;
  };
  const t: TwoNodes = {
    get cluster() {
      return started();
    },
    get nodeA() {
      return started().apis[0]?.base ?? "";
    },
    get nodeB() {
      return started().apis[1]?.base ?? "";
    },
    on: (base, user) => new Client(base, token(user)),
    open: async (base, user, transport = "websocket") => {
      const s = await connect(base, token(user), transport);
      sockets.push(s);
      return s;
    },
    group: async (creator, members) => {
      const res = await t.on(t.nodeA, creator).call<{ room: { id: string } }>("POST", "/rooms", {
        type: "group",
        name: "g",
        member_ids: members,
      });
      if (res.status !== 201) throw new Error(`group: HTTP ${res.status}`);
      return res.body.room.id;
    },
  };
  return t;
}
