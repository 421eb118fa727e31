import type { Config } from "../config/config.ts";

type MediaSettings = Pick<
  Config,
  | "MEDIA_STORAGE"
  | "publicUrl"
  | "S3_ENDPOINT"
  | "S3_PUBLIC_URL"
  | "S3_BUCKET"
  | "S3_REGION"
  | "S3_FORCE_PATH_STYLE"
>;

/**
 * Where the browser fetches media from and uploads it to: this API (local storage, at
 * PUBLIC_URL, which may be another spelling of the page's host), or the bucket (its endpoint,
 * path- or virtual-host style, and the CDN in front of it).
 */
function mediaOrigins(config: MediaSettings): string[] {
  const origins = new Set<string>();
  if (config.MEDIA_STORAGE === "local") {
    origins.add(new URL(config.publicUrl).origin);
  } else {
    const bucket = config.S3_BUCKET ?? "";
    const endpoint = new URL(config.S3_ENDPOINT ?? `https://s3.${config.S3_REGION}.amazonaws.com`);
    origins.add(endpoint.origin);
    if (!config.S3_FORCE_PATH_STYLE && bucket)
      origins.add(`${endpoint.protocol}//${bucket}.${endpoint.host}`);
    if (config.S3_PUBLIC_URL) origins.add(new URL(config.S3_PUBLIC_URL).origin);
  }
  return [...origins];
}

/**
 * The web client's page policy: its own scripts and styles only (no inline code), sockets and
 * REST to this origin, media from the origins above (blob: for the preview of a file being
 * sent, data: for the blurred placeholders).
 */
export function webClientCsp(config: MediaSettings): string {
  const media = mediaOrigins(config).join(" ");
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data: blob: ${media}`,
    `media-src 'self' blob: ${media}`,
    `connect-src 'self' ${media}`,
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
}
