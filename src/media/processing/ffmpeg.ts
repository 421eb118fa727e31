import { spawn } from "node:child_process";
import { z } from "zod";

/** ffmpeg or ffprobe ran and refused the input (exit code non-zero): the file is the problem. */
export class FfmpegFailedError extends Error {}
/** It ran past its time limit and was killed. */
export class FfmpegTimeoutError extends Error {}

const probeSchema = z.object({
  streams: z
    .array(
      z.object({
        codec_type: z.string().optional(),
        width: z.number().optional(),
        height: z.number().optional(),
        duration: z.string().optional(),
        tags: z.record(z.string(), z.string()).optional(),
        side_data_list: z.array(z.object({ rotation: z.number().optional() }).passthrough()).optional(),
      }),
    )
    .default([]),
  format: z.object({ duration: z.string().optional() }).optional(),
});
export type Probe = z.infer<typeof probeSchema>;

/**
 * Debian's ffmpeg and ffprobe, spawned directly (fluent-ffmpeg, the usual wrapper, was archived
 * upstream in 2025): argument arrays, never a shell, so no file name is ever parsed as an
 * option or a command; each run is killed after `timeoutMs`.
 */
export class Ffmpeg {
  readonly #ffmpeg: string;
  readonly #ffprobe: string;
  readonly #timeoutMs: number;

  constructor(opts: { ffmpegPath: string; ffprobePath: string; timeoutMs: number }) {
    this.#ffmpeg = opts.ffmpegPath;
    this.#ffprobe = opts.ffprobePath;
    this.#timeoutMs = opts.timeoutMs;
  }

  async probe(file: string): Promise<Probe> {
    const out = await this.#run(this.#ffprobe, [
      "-v",
      "error",
      "-print_format",
      "json",
      "-show_format",
      "-show_streams",
      "--",
      file,
    ]);
    try {
      return probeSchema.parse(JSON.parse(out));
    } catch {
      throw new FfmpegFailedError("ffprobe printed no usable description");
    }
  }

  /**
   * One frame at `atS` seconds as PNG, upright (ffmpeg applies the rotation metadata). Seeking
   * past the end exits 0 without a frame: the caller checks that the file exists.
   */
  async frame(file: string, atS: number, outFile: string, maxPixels: number): Promise<void> {
    await this.#run(this.#ffmpeg, [
      "-v",
      "error",
      "-nostdin",
      "-y",
      // The decoder refuses any frame above the limit (a stream may change size mid-way).
      "-max_pixels",
      String(maxPixels),
      "-ss",
      String(atS),
      "-i",
      file,
      "-map",
      "0:v:0",
      "-frames:v",
      "1",
      "-f",
      "image2",
      "-c:v",
      "png",
      outFile,
    ]);
  }

  #run(cmd: string, args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
      const stdout: Buffer[] = [];
      let stderr = "";
      child.stdout.on("data", (c: Buffer) => stdout.push(c));
      child.stderr.on("data", (c: Buffer) => {
        stderr = (stderr + c.toString()).slice(-2000);
      });
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, this.#timeoutMs);
      child.on("error", (err) => {
        clearTimeout(timer);
        reject(err); // not installed, not executable: not the file's fault, so retried
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        if (timedOut) reject(new FfmpegTimeoutError(`${cmd} ran past ${this.#timeoutMs} ms`));
        else if (code !== 0)
          reject(new FfmpegFailedError(`${cmd} exited ${code}: ${stderr.trim().split("\n").at(-1) ?? ""}`));
        else resolve(Buffer.concat(stdout).toString());
      });
    });
  }
}
