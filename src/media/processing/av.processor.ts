import { access, rm } from "node:fs/promises";
import sharp from "sharp";
import { type Ffmpeg, FfmpegFailedError, FfmpegTimeoutError, type Probe } from "./ffmpeg.ts";
import { placeholderOf, webpThumbnail } from "./image.processor.ts";
import { MediaRejectedError, type Processed } from "./media-rejected.ts";

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/** A quarter turn in the stream's display matrix (or the old `rotate` tag) swaps width and height. */
function rotation(stream: Probe["streams"][number]): number {
  const fromSideData = stream.side_data_list?.find((d) => d.rotation !== undefined)?.rotation;
  const fromTag = stream.tags?.rotate !== undefined ? Number(stream.tags.rotate) : undefined;
  return Math.abs(fromSideData ?? fromTag ?? 0) % 180;
}

function durationOf(probe: Probe, stream: Probe["streams"][number]): number | null {
  const d = Number(probe.format?.duration ?? stream.duration);
  return Number.isFinite(d) && d >= 0 ? Math.round(d * 1000) / 1000 : null;
}

/** ffmpeg's refusals and time-outs are the file's fault; anything else (not installed) is retried. */
async function onFile<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof FfmpegFailedError) throw new MediaRejectedError(`not a readable ${what}`);
    if (err instanceof FfmpegTimeoutError) throw new MediaRejectedError(`the ${what} took too long to read`);
    throw err;
  }
}

/**
 * Video and audio with ffprobe/ffmpeg: duration, dimensions as displayed (after rotation), and
 * for video a poster frame at 1 s (the first frame of a shorter clip) made into the same
 * thumbnail and placeholder as an image.
 */
export class AvProcessor {
  readonly #ffmpeg: Ffmpeg;
  readonly #maxPixels: number;
  /** `maxPixels`: a frame larger than this is refused before any is decoded (MEDIA_MAX_PIXELS). */
  constructor(ffmpeg: Ffmpeg, maxPixels: number) {
    this.#ffmpeg = ffmpeg;
    this.#maxPixels = maxPixels;
  }

  async video(file: string): Promise<Processed> {
    const probe = await onFile("video", () => this.#ffmpeg.probe(file));
    const stream = probe.streams.find((s) => s.codec_type === "video");
    if (!stream?.width || !stream.height) throw new MediaRejectedError("the file has no video stream");
    // Every video stream, not only the one shown: a hidden huge one must not slip through.
    for (const s of probe.streams.filter((x) => x.codec_type === "video")) {
      if ((s.width ?? 0) * (s.height ?? 0) > this.#maxPixels) {
        throw new MediaRejectedError(`the video's frames exceed the pixel limit (${s.width}x${s.height})`);
      }
    }
    const duration = durationOf(probe, stream);
    const turned = rotation(stream) === 90;
    const poster = `${file}.poster.png`;
    try {
      const at = duration !== null && duration > 1 ? 1 : 0;
      const frame = (atS: number) =>
        onFile("video", () => this.#ffmpeg.frame(file, atS, poster, this.#maxPixels));
      await frame(at);
      if (!(await exists(poster)) && at > 0) await frame(0);
      if (!(await exists(poster))) throw new MediaRejectedError("the video has no frame to show");
      const thumbnail = await webpThumbnail(sharp(poster));
      return {
        width: turned ? stream.height : stream.width,
        height: turned ? stream.width : stream.height,
        duration,
        thumbnail,
        placeholder: await placeholderOf(thumbnail),
      };
    } finally {
      await rm(poster, { force: true });
    }
  }

  async audio(file: string): Promise<Processed> {
    const probe = await onFile("audio file", () => this.#ffmpeg.probe(file));
    const stream = probe.streams.find((s) => s.codec_type === "audio");
    if (!stream) throw new MediaRejectedError("the file has no audio stream");
    return {
      width: null,
      height: null,
      duration: durationOf(probe, stream),
      thumbnail: null,
      placeholder: null,
    };
  }
}
