/**
 * What request logging at `info` costs on the hottest REST path (issue 11): REST sends at max
 * rate (BENCH_CONCURRENCY senders in a closed loop, BENCH_SECONDS each) against one API process
 * and one persist pool, once with LOG_LEVEL=info and a log line per request, once with both off,
 * in the same run, alternating A/B/A/B to spread drift. Prometheus metrics are collected in both
 * (they are always on). Prints throughput, p50/p99 and the ratio (target: under 10% slower).
 *
 *   node bench/logging-overhead.bench.ts
 */
import { once } from "node:events";
import { z } from "zod";
import { dropPrefix, removeDir, tempDir, testEnv, token, uniquePrefix } from "../test/helpers/env.ts";
import { startApiProcess, startWorkerProcess } from "../test/helpers/processes.ts";
import { RestClient as Client } from "../test/helpers/rest-client.ts";
import { WorkCheck } from "./work-check.ts";

const opts = z
  .object({
    BENCH_SECONDS: z.coerce.number().positive().default(6),
    BENCH_CONCURRENCY: z.coerce.number().int().positive().default(32),
    BENCH_ROUNDS: z.coerce.number().int().positive().default(2),
  })
  .parse(process.env);
const work = new WorkCheck();

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

async function run(logging: boolean): Promise<{ rate: number; p50: number; p99: number }> {
  const prefix = uniquePrefix("bench-log");
  const dir = tempDir("bench-log");
  const env = testEnv(
    prefix,
    dir,
    logging
      ? { LOG_LEVEL: "info", HTTP_REQUEST_LOG: "true" }
      : { LOG_LEVEL: "warn", HTTP_REQUEST_LOG: "false" },
  );
  const api = await startApiProcess(env);
  const worker = startWorkerProcess(env, "persist");
  try {
    const owner = new Client(api.base, token("sender-0"));
    const room = await owner.call<{ room: { id: string } }>("POST", "/rooms", {
      type: "group",
      name: "b",
      member_ids: ["x"],
    });
    const roomId = room.body.room.id;
    const latencies: number[] = [];
    let n = 0;
    const until = performance.now() + opts.BENCH_SECONDS * 1000;
    await Promise.all(
      Array.from({ length: opts.BENCH_CONCURRENCY }, async (_, w) => {
        const c = new Client(api.base, token("sender-0"));
        while (performance.now() < until) {
          const t = performance.now();
          const res = await c.call("POST", `/rooms/${roomId}/messages`, {
            client_id: `w${w}-${n++}`,
            type: "text",
            text: "hello",
          });
          if (res.status !== 201) throw new Error(`send: ${res.status}`);
          latencies.push(performance.now() - t);
        }
      }),
    );
    // The cost measured is a log line per request: with logging on each send must have one, off
    // none (counted once the process has exited and its output is all read).
    await api.stop();
    const stdout = api.child.stdout;
    if (stdout && !stdout.readableEnded) await once(stdout, "end");
    const logged = api
      .output()
      .split("\n")
      .filter((l) => l.includes('"msg":"request completed"')).length;
    const label = `logging ${logging ? "on" : "off"}`;
    work.atLeast(`${label}: sends`, latencies.length, 1);
    if (logging) work.atLeast(`${label}: request log lines`, logged, latencies.length);
    else work.equal(`${label}: request log lines`, logged, 0);
    return { rate: latencies.length / opts.BENCH_SECONDS, p50: pct(latencies, 50), p99: pct(latencies, 99) };
  } finally {
    await Promise.all([api.stop(), worker.stop()]);
    await dropPrefix(prefix);
    removeDir(dir);
  }
}

const results: Record<"on" | "off", { rate: number; p50: number; p99: number }[]> = { on: [], off: [] };
for (let round = 0; round < opts.BENCH_ROUNDS; round++) {
  results.on.push(await run(true));
  results.off.push(await run(false));
}
const avg = (xs: { rate: number; p50: number; p99: number }[], k: "rate" | "p50" | "p99") =>
  xs.reduce((a, x) => a + x[k], 0) / xs.length;
console.log(
  `REST sends at max rate, ${opts.BENCH_CONCURRENCY} senders, ${opts.BENCH_SECONDS} s × ${opts.BENCH_ROUNDS} rounds each`,
);
console.log("| | msg/s | p50 ms | p99 ms |\n|---|---|---|---|");
for (const k of ["on", "off"] as const) {
  console.log(
    `| logging ${k} | ${avg(results[k], "rate").toFixed(0)} | ${avg(results[k], "p50").toFixed(1)} | ${avg(results[k], "p99").toFixed(1)} |`,
  );
}
const cost = 1 - avg(results.on, "rate") / avg(results.off, "rate");
console.log(`throughput cost of request logging at info: ${(cost * 100).toFixed(1)}% (target < 10%)`);
work.finish();
