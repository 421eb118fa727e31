/**
 * Thumbnail benchmark (issue 9): BENCH_IMAGES (default 12) 12-megapixel JPEGs through the whole
 * pipeline (upload URL, PUT to the local driver, confirm, the media queue, a media pool
 * process, `media:ready` on the uploader's socket) versus the same files through raw sharp
 * (the pool's own ImageProcessor, in this process) in the same run. Two passes each: one file
 * at a time (latency) and all at once at the pool's concurrency (throughput). Prints both, the
 * ratios, and the media pool process's peak RSS (VmHWM).
 *
 *   node bench/thumbnail.bench.ts
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Socket } from "socket.io-client";
import { z } from "zod";
import { ImageProcessor } from "../src/media/processing/image.processor.ts";
import { dropPrefix, removeDir, tempDir, testEnv, token, uniquePrefix } from "../test/helpers/env.ts";
import { photo } from "../test/helpers/media-files.ts";
import { startApiProcess, startWorkerProcess } from "../test/helpers/processes.ts";
import { RestClient as Client } from "../test/helpers/rest-client.ts";
import { connect } from "../test/helpers/socket.ts";
import { WorkCheck } from "./work-check.ts";

const opts = z
  .object({
    BENCH_IMAGES: z.coerce.number().int().positive().default(12),
    MEDIA_CONCURRENCY: z.coerce.number().int().positive().default(2),
  })
  .parse(process.env);

const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const ms = (n: number) => `${n.toFixed(0)} ms`;
const peakRssMb = (pid: number) => {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
};

/** Runs `fn` over items with at most `n` at once; returns each item's latency and the wall time. */
async function pool<T>(items: T[], n: number, fn: (item: T) => Promise<void>) {
  const latencies: number[] = [];
  const queue = [...items];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: n }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        const t0 = performance.now();
        await fn(item);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { latencies, wallMs: performance.now() - start };
}

const work = new WorkCheck();
const prefix = uniquePrefix("bench-thumb");
const dataDir = tempDir("bench-thumb");
const env = testEnv(prefix, dataDir, {
  LOG_LEVEL: "warn",
  MEDIA_CONCURRENCY: String(opts.MEDIA_CONCURRENCY),
});

console.log(`generating ${opts.BENCH_IMAGES} JPEGs of 4000x3000...`);
const files: Buffer[] = [];
for (let i = 0; i < opts.BENCH_IMAGES; i++) files.push(await photo(4000, 3000 + i)); // distinct files
const avgMb = files.reduce((a, f) => a + f.length, 0) / files.length / 1024 / 1024;
console.log(`average file ${avgMb.toFixed(1)} MB`);

const api = await startApiProcess(env);
const worker = startWorkerProcess({ ...env, PUBLIC_URL: api.base }, "media");
const client = new Client(api.base, token("bench-user"));
const socket: Socket = await connect(api.base, token("bench-user"));
const waiting = new Map<string, () => void>();
/** Images the pool made ready with a thumbnail and a placeholder, and the uploads it failed. */
let thumbnailed = 0;
let failed = 0;
socket.on(
  "media:ready",
  ({ media }: { media: { id: string; thumbnail_url: string | null; placeholder: string | null } }) => {
    if (media.thumbnail_url && media.placeholder) thumbnailed++;
    waiting.get(media.id)?.();
  },
);
socket.on("media:failed", ({ media }: { media: { id: string; failure_reason: string } }) => {
  failed++;
  console.error(`media failed: ${media.failure_reason}`);
  waiting.get(media.id)?.();
});

async function throughPipeline(body: Buffer): Promise<void> {
  const t0 = performance.now();
  const up = await client.call<{ upload_id: string; url: string; headers: Record<string, string> }>(
    "POST",
    "/media/upload-url",
    { filename: "photo.jpg", content_type: "image/jpeg", size: body.length },
  );
  if (up.status !== 201) throw new Error(`upload-url: ${up.status}`);
  // Settles on media:ready, media:failed or after a minute: a lost announcement fails the work check, not the run.
  const ready = new Promise<void>((resolve) => {
    waiting.set(up.body.upload_id, resolve);
    setTimeout(resolve, 60_000).unref();
  });
  const t1 = performance.now();
  const put = await fetch(up.body.url, { method: "PUT", headers: up.body.headers, body });
  if (put.status !== 200) throw new Error(`PUT: ${put.status}`);
  const t2 = performance.now();
  const confirm = await client.call("POST", "/media/confirm", { upload_id: up.body.upload_id });
  const t3 = performance.now();
  if (confirm.status !== 200) throw new Error(`confirm: ${confirm.status}`);
  await ready;
  const t4 = performance.now();
  parts.push([t1 - t0, t2 - t1, t3 - t2, t4 - t3]);
}
/** Per image: upload-url, PUT, confirm, confirm → media:ready (ms). */
const parts: number[][] = [];

const sharpDir = tempDir("bench-thumb-raw");
const images = new ImageProcessor(50_000_000);
const onDisk = files.map((f, i) => {
  const file = path.join(sharpDir, `p${i}.jpg`);
  writeFileSync(file, f);
  return file;
});
let sharpThumbnails = 0;
async function throughSharp(file: string): Promise<void> {
  const processed = await images.process(file);
  if ((processed.thumbnail?.length ?? 0) > 0 && processed.placeholder) sharpThumbnails++;
}

try {
  // Warm-up: a few files each way (JIT, libvips init, the worker's first connections).
  for (let i = 0; i < 3; i++) {
    await throughPipeline(files[i % files.length] as Buffer);
    await throughSharp(onDisk[i % onDisk.length] as string);
  }

  const rawSeq = await pool(onDisk, 1, throughSharp);
  parts.length = 0;
  const pipeSeq = await pool(files, 1, throughPipeline);
  const seqParts = [...parts];
  const rawPar = await pool(onDisk, opts.MEDIA_CONCURRENCY, throughSharp);
  const pipePar = await pool(files, opts.MEDIA_CONCURRENCY, throughPipeline);
  const n = opts.BENCH_IMAGES;

  console.log(`\n${n} images of 12 MP, local storage, media pool concurrency ${opts.MEDIA_CONCURRENCY}`);
  console.log("| | raw sharp | pipeline | ratio |");
  console.log("|---|---|---|---|");
  const row = (label: string, a: number, b: number) =>
    console.log(`| ${label} | ${ms(a)} | ${ms(b)} | ${(b / a).toFixed(2)}x |`);
  row("one at a time: p50 per image", pct(rawSeq.latencies, 50), pct(pipeSeq.latencies, 50));
  row("one at a time: p99 per image", pct(rawSeq.latencies, 99), pct(pipeSeq.latencies, 99));
  row("one at a time: total", rawSeq.wallMs, pipeSeq.wallMs);
  row(`${opts.MEDIA_CONCURRENCY} at once: total`, rawPar.wallMs, pipePar.wallMs);
  console.log(
    `\nimages/s at ${opts.MEDIA_CONCURRENCY} at once: raw ${((n / rawPar.wallMs) * 1000).toFixed(1)}, pipeline ${((n / pipePar.wallMs) * 1000).toFixed(1)}`,
  );
  // Where the pipeline's time goes, one image at a time, p50.
  const steps = ["POST /media/upload-url", "PUT of the file", "POST /media/confirm", "confirm → media:ready"];
  console.log("\n| step (p50) | ms |\n|---|---|");
  const p50 = (i: number) =>
    pct(
      seqParts.map((p) => p[i] ?? 0),
      50,
    );
  for (const [i, step] of steps.entries()) console.log(`| ${step} | ${p50(i).toFixed(1)} |`);
  const processing = p50(3);
  console.log(
    `processing alone (confirm → media:ready) / raw sharp, p50: ${(processing / pct(rawSeq.latencies, 50)).toFixed(2)}x`,
  );
  console.log(`media pool peak RSS: ${peakRssMb(worker.child.pid ?? 0).toFixed(0)} MB (target < 512 MB)`);
  console.log(`this process (raw sharp) peak RSS: ${peakRssMb(process.pid).toFixed(0)} MB`);
  // Three warm-ups and two passes each way: every image must have come out with its thumbnail.
  const expected = 3 + 2 * n;
  work.equal("pipeline: images made ready with a thumbnail and placeholder", thumbnailed, expected);
  work.equal("pipeline: media failed", failed, 0);
  work.equal("raw sharp: thumbnails made", sharpThumbnails, expected);
} finally {
  socket.close();
  await Promise.all([api.stop(), worker.stop()]);
  await dropPrefix(prefix);
  removeDir(dataDir);
  removeDir(sharpDir);
}
work.finish();
