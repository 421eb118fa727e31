/**
 * The file itself is bad (not decodable, too many pixels, no video stream): processing it again
 * cannot help, so the media ends `failed` with this reason instead of being retried.
 */
export class MediaRejectedError extends Error {}

/** What processing learnt about a media, and its thumbnail (WebP) when its kind has one. */
export type Processed = {
  width: number | null;
  height: number | null;
  duration: number | null;
  thumbnail: Buffer | null;
  placeholder: string | null;
};
