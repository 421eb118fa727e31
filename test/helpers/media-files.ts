import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import sharp from "sharp";

/** Whether Debian's ffmpeg and ffprobe are installed (.ci/run installs them). */
export const HAS_FFMPEG =
  spawnSync("ffmpeg", ["-version"]).status === 0 && spawnSync("ffprobe", ["-version"]).status === 0;

/**
 * A JPEG whose left half is red and right half blue. With `orientation` set, the pixels are
 * stored as given and the EXIF tag says how to turn them for display (6: a quarter turn
 * clockwise, so the displayed picture has red on top).
 */
export async function jpeg(width: number, height: number, orientation?: number): Promise<Buffer> {
  const half = Math.floor(width / 2);
  const image = sharp({ create: { width, height, channels: 3, background: "#0000ff" } }).composite([
    {
      input: { create: { width: half, height, channels: 3, background: "#ff0000" } },
      left: 0,
      top: 0,
    },
  ]);
  const out = image.jpeg({ quality: 85 });
  return (orientation ? out.withMetadata({ orientation }) : out).toBuffer();
}

/** A noisy photo-like JPEG (12 MP by default), the size real cameras send. */
export async function photo(width = 4000, height = 3000): Promise<Buffer> {
  const noise = await sharp({
    create: {
      width: 400,
      height: 300,
      channels: 3,
      background: "#000",
      noise: { type: "gaussian", mean: 128, sigma: 40 },
    },
  })
    .png()
    .toBuffer();
  return sharp(noise).resize(width, height, { kernel: "cubic" }).jpeg({ quality: 88 }).toBuffer();
}

export const garbage = (bytes = 4096): Buffer => randomBytes(bytes);

/** Debian's ffmpeg, quiet, never prompting, overwriting its output. */
const ffmpeg = (...args: string[]) =>
  execFileSync("ffmpeg", ["-v", "error", "-nostdin", "-y", ...args], { stdio: "pipe" });
const scratch = (dir: string, name: string) =>
  path.join(dir, `${name}-${Math.random().toString(36).slice(2)}`);

/** An H.264 MP4 of `seconds` from ffmpeg's test source, optionally tagged as rotated. */
export function video(dir: string, seconds: number, opts: { rotate?: number; size?: string } = {}): Buffer {
  const file = `${scratch(dir, "v")}.mp4`;
  const source = `testsrc=duration=${seconds}:size=${opts.size ?? "320x240"}:rate=25`;
  ffmpeg("-f", "lavfi", "-i", source, "-c:v", "libx264", "-pix_fmt", "yuv420p", file);
  if (!opts.rotate) return readFileSync(file);
  // ffmpeg 5 writes the display matrix only when copying the stream, not while encoding it.
  const rotated = `${scratch(dir, "vr")}.mp4`;
  ffmpeg("-i", file, "-c", "copy", "-metadata:s:v:0", `rotate=${opts.rotate}`, rotated);
  return readFileSync(rotated);
}

/** A sine tone: AAC in an M4A container. */
export function audio(dir: string, seconds: number): Buffer {
  const file = `${scratch(dir, "a")}.m4a`;
  ffmpeg("-f", "lavfi", "-i", `sine=frequency=440:duration=${seconds}`, "-c:a", "aac", file);
  return readFileSync(file);
}
