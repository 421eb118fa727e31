import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "../..");

export type Proc = {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the exit code once the process exits by itself. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
};

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

/** Starts an entry point on this Node (24) with the given env, as PM2 or an operator would. */
export function start(script: string, args: string[], env: Record<string, string>): Proc {
  // e.g. CHILD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the processes under a benchmark.
  const nodeArgs = process.env.CHILD_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, script), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on("data", (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    child,
    output: () => out,
    exited,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function waitReady(base: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      const res = await fetch(`${base}/readyz`);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${base} not ready within ${ms} ms`);
}

export async function startApiProcess(env: Record<string, string>): Promise<Proc & { base: string }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // Signed local media URLs point back at this process unless the test says otherwise.
  const proc = start("src/main.ts", [], { PUBLIC_URL: base, ...env, PORT: String(port) });
  try {
    await waitReady(base);
  } catch (err) {
    await proc.stop("SIGKILL");
    throw new Error(`${(err as Error).message}\n${proc.output()}`);
  }
  return { ...proc, base };
}

export function startWorkerProcess(env: Record<string, string>, pool = "persist"): Proc {
  return start("workers/main.ts", [pool], env);
}
