import sharp, { type Sharp } from "sharp";
import { MediaRejectedError, type Processed } from "./media-rejected.ts";

// One job's file is never read twice: libvips' operation cache would only hold memory.
sharp.cache(false);

const THUMBNAIL_PX = 320;
const PLACEHOLDER_MAX_BYTES = 1024;

/**
 * Thumbnails with sharp: auto-oriented by EXIF (phone photos come out upright), at most
 * `maxPixels` decoded (decompression bombs fail instead of eating memory), metadata stripped
 * (sharp's default: no GPS in what is served), a 320 px WebP thumbnail and a blurred
 * placeholder small enough to travel inside the media object.
 */
export class ImageProcessor {
  readonly #maxPixels: number;
  readonly #timeoutS: number;
  /** `timeoutS`: a decode running longer fails the image (crafted JPEGs can take minutes). */
  constructor(maxPixels: number, timeoutS = 20) {
    this.#maxPixels = maxPixels;
    this.#timeoutS = timeoutS;
  }

  async process(file: string): Promise<Processed> {
    try {
      const input = () => sharp(file, { limitInputPixels: this.#maxPixels, failOn: "error" });
      const meta = await input().metadata();
      if (!meta.width || !meta.height) throw new MediaRejectedError("the image has no dimensions");
      // EXIF orientations 5-8 turn the picture a quarter: its displayed width is the stored height.
      const turned = (meta.orientation ?? 1) >= 5;
      const thumbnail = await webpThumbnail(input().autoOrient().timeout({ seconds: this.#timeoutS }));
      return {
        width: turned ? meta.height : meta.width,
        height: turned ? meta.width : meta.height,
        duration: null,
        thumbnail,
        placeholder: await placeholderOf(thumbnail),
      };
    } catch (err) {
      if (err instanceof MediaRejectedError) throw err;
      // sharp reads a local file here: any failure is the file's (format, pixels, truncation).
      throw new MediaRejectedError(`not a readable image: ${(err as Error).message}`);
    }
  }
}

/** The thumbnail of images and video posters alike: at most 320 px a side, WebP, never enlarged. */
export function webpThumbnail(image: Sharp): Promise<Buffer> {
  return image
    .resize(THUMBNAIL_PX, THUMBNAIL_PX, { fit: "inside", withoutEnlargement: true })
    .webp({ quality: 75 })
    .toBuffer();
}

/** A tiny blurred WebP as a data URL, shrunk until it fits in 1 KB. */
export async function placeholderOf(image: Buffer): Promise<string> {
  for (const px of [24, 16, 10, 6]) {
    const tiny = await sharp(image)
      .resize(px, px, { fit: "inside" })
      .blur(0.6)
      .webp({ quality: 30, smartSubsample: true })
      .toBuffer();
    const url = `data:image/webp;base64,${tiny.toString("base64")}`;
    if (url.length <= PLACEHOLDER_MAX_BYTES) return url;
  }
  throw new MediaRejectedError("could not make a placeholder under 1 KB");
}
