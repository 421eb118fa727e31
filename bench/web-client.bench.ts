/**
 * The web client (issue 12): the built bundle's size (gzip, as served over the wire; target:
 * under 150 kB of JavaScript, socket.io-client included), and the time from navigation to a
 * room list of 200 rooms rendered in Debian's Chromium against one API process (target: under
 * 1 s), BENCH_LOADS cold page loads (new browser context each), median and worst.
 *
 *   npm run build:web && node bench/web-client.bench.ts
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { z } from "zod";
import { WEB_DIST } from "../src/web/web-client.routes.ts";
import { dropPrefix, removeDir, tempDir, testEnv, token, uniquePrefix } from "../test/helpers/env.ts";
import { startApiProcess, startWorkerProcess } from "../test/helpers/processes.ts";
import { roomListShownAt, watchRoomList } from "../test/helpers/web-timing.ts";
import { WorkCheck } from "./work-check.ts";

const opts = z
  .object({
    BENCH_LOADS: z.coerce.number().int().positive().default(7),
    BENCH_ROOMS: z.coerce.number().int().positive().default(200),
  })
  .parse(process.env);

function bundleSizes(): { js: number; css: number; jsRaw: number } {
  const assets = path.join(WEB_DIST, "assets");
  let js = 0;
  let jsRaw = 0;
  let css = 0;
  for (const file of readdirSync(assets)) {
    const bytes = readFileSync(path.join(assets, file));
    const gz = gzipSync(bytes, { level: 9 }).length;
    if (file.endsWith(".js")) {
      js += gz;
      jsRaw += bytes.length;
    } else if (file.endsWith(".css")) css += gz;
  }
  return { js, css, jsRaw };
}

const kb = (n: number) => `${(n / 1000).toFixed(1)} kB`;
const work = new WorkCheck();
const sizes = bundleSizes();
work.atLeast("bundle: JavaScript bytes", sizes.jsRaw, 1);
console.log(
  `bundle: JavaScript ${kb(sizes.js)} gzipped (${kb(sizes.jsRaw)} raw; target < 150 kB gzipped), CSS ${kb(sizes.css)} gzipped`,
);

const prefix = uniquePrefix("bench-web");
const dir = tempDir("bench-web");
const env = testEnv(prefix, dir);
const api = await startApiProcess(env);
const worker = startWorkerProcess(env, "persist");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
  let made = 0;
  const call = async (user: string, method: string, p: string, body: unknown) => {
    const res = await fetch(`${api.base}/api/v1/chat${p}`, {
      method,
      headers: { authorization: `Bearer ${token(user)}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    if (res.status === 201) made++;
    return (await res.json()) as { room: { id: string } };
  };
  const peers = Array.from({ length: opts.BENCH_ROOMS }, (_, i) => `peer${i}`);
  for (let i = 0; i < peers.length; i += 20) {
    await Promise.all(
      peers.slice(i, i + 20).map(async (peer) => {
        const { room } = await call(peer, "POST", "/rooms", { type: "direct", member_id: "reader" });
        await call(peer, "POST", `/rooms/${room.id}/messages`, {
          client_id: `c-${peer}`,
          type: "text",
          text: `hi from ${peer}`,
        });
      }),
    );
  }
  // A room and its message per peer: the list the page must show.
  work.equal("rooms and messages created", made, 2 * opts.BENCH_ROOMS);
  const times: number[] = [];
  for (let i = 0; i < opts.BENCH_LOADS; i++) {
    const context = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    await context.addInitScript((t) => sessionStorage.setItem("chat.token", t), token("reader"));
    await watchRoomList(context, opts.BENCH_ROOMS);
    const page = await context.newPage();
    await page.goto(api.base);
    times.push(await roomListShownAt(page, opts.BENCH_ROOMS));
    await context.close();
  }
  // The moment is taken in the page when the list holds every room: a load without it timed nothing.
  work.equal(
    "page loads timed to a full room list",
    times.filter((t) => Number.isFinite(t)).length,
    opts.BENCH_LOADS,
  );
  times.sort((a, b) => a - b);
  console.log(
    `page load to ${opts.BENCH_ROOMS} rooms listed (${opts.BENCH_LOADS} cold loads): median ${times[Math.floor(times.length / 2)]} ms, worst ${times.at(-1)} ms (target < 1000 ms)`,
  );
} finally {
  await browser.close();
  await worker.stop();
  await api.stop();
  await dropPrefix(prefix);
  removeDir(dir);
}
work.finish();
