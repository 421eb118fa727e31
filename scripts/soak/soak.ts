/**
 * The chaos soak: the whole system (two API processes, every pool, embedded defaults) under a
 * mixed workload from a few hundred clients for M minutes, with `--chaos` a process killed -9
 * every few seconds (restarted as PM2 would) and the store's write lock held now and then;
 * then every invariant checked from the outside. Exit status 1 on any violation.
 *
 *   npm run soak -- --minutes 1 --chaos [--seed 42] [--users 200] [--keep]
 *
 * docs/operations.md ("Chaos soak") says what each check means and how to replay a failure.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { formatReport, runChecks } from "./checks.ts";
import { mulberry32 } from "./rng.ts";
import { startSystem } from "./system.ts";
import { runWorkload, setupWorkload } from "./workload.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "1" },
    chaos: { type: "boolean", default: false },
    seed: { type: "string" },
    users: { type: "string", default: "200" },
    keep: { type: "boolean", default: false },
    report: { type: "string" },
  },
});
const opts = z
  .object({
    minutes: z.coerce
      .number()
      .positive()
      .max(24 * 60),
    chaos: z.boolean(),
    seed: z.coerce
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1),
    users: z.coerce.number().int().min(4).max(2000),
    keep: z.boolean(),
    report: z.string().optional(),
  })
  .parse({ ...values, seed: values.seed ?? Math.floor(Math.random() * 2 ** 32) });

const started = Date.now();
const log = (line: string) =>
  process.stdout.write(`[soak +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
log(`seed ${opts.seed}, ${opts.minutes} min, ${opts.users} users, chaos ${opts.chaos ? "on" : "off"}`);

const sys = await startSystem({ log });
let failed = true;
try {
  const rng = mulberry32(opts.seed);
  // Faults draw from their own stream, so the workload's choices stay the same with or without chaos.
  const chaosRng = mulberry32(opts.seed ^ 0x9e3779b9);
  const ledger = await setupWorkload(sys, rng, { users: opts.users, log });
  ledger.seed = opts.seed;
  if (opts.chaos) sys.startChaos(chaosRng, log);
  await runWorkload(sys, ledger, rng, { ms: opts.minutes * 60_000, log });
  if (opts.chaos) await sys.stopChaos();
  log("workload done; waiting for the backlog to drain");
  const drain = await sys.drain(120_000);
  const checks = await runChecks(sys, ledger, drain, log);
  const report = formatReport(ledger, sys.faults, checks, drain);
  process.stdout.write(`\n${report}\n`);
  if (opts.report) writeFileSync(path.resolve(opts.report), report);
  failed = checks.some((c) => c.violations.length > 0) || !drain.drained || sys.crashes().length > 0;
} finally {
  await sys.stop({ keep: opts.keep || failed });
  if (failed) log(`FAIL: replay with --seed ${opts.seed}; the data is kept in ${sys.dataDir}`);
}
process.exit(failed ? 1 : 0);
