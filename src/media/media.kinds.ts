import { normalizeType } from "../media-storage/content-type.ts";
import type { MediaKind } from "../store/store.ts";

/**
 * The allow-list: each accepted content type and its kind. Types are what `file-type` reports
 * from a file's first bytes, so a declared type can be checked against the real one. Text-like
 * files have no signature: they are accepted as `file` only when nothing is detected.
 */
const TYPES: Record<MediaKind, readonly string[]> = {
  image: ["image/jpeg", "image/png", "image/webp", "image/gif", "image/avif"],
  video: [
    "video/mp4",
    "video/quicktime",
    "video/webm",
    "video/matroska",
    "video/3gpp",
    "video/3gpp2",
    "video/x-m4v",
  ],
  audio: [
    "audio/mpeg",
    "audio/mp4",
    "audio/aac",
    "audio/ogg",
    "audio/opus",
    "audio/wav",
    "audio/webm",
    "audio/flac",
    "audio/x-m4a",
    "audio/amr",
  ],
  file: [
    "application/pdf",
    "application/zip",
    "application/gzip",
    "application/x-7z-compressed",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/epub+zip",
    "text/plain",
    "text/csv",
    "application/json",
  ],
};

/** Types with no magic bytes: detection finds nothing, and that is the expected answer. */
const UNSIGNED = new Set(["text/plain", "text/csv", "application/json"]);

const KIND_OF = new Map<string, MediaKind>();
for (const [kind, types] of Object.entries(TYPES) as [MediaKind, readonly string[]][]) {
  for (const t of types) KIND_OF.set(t, kind);
}

/** The kind of an allowed type, or null when the type is not on the allow-list. */
export function kindOf(contentType: string): MediaKind | null {
  return KIND_OF.get(normalizeType(contentType)) ?? null;
}

/**
 * Whether the bytes fit what was declared. `detected` is file-type's answer (undefined when it
 * knows no signature). Within the declared kind any allowed type passes (a phone that calls a
 * HEVC .mov "video/mp4" still sent a video); a `file` may be anything on the allow-list (a photo
 * sent as a document); a text type passes only when nothing is detected. Returns the type to
 * store, or null on a mismatch.
 */
export function verifiedType(declared: string, detected: string | undefined): string | null {
  const kind = kindOf(declared);
  if (!kind) return null;
  if (detected === undefined) return UNSIGNED.has(normalizeType(declared)) ? normalizeType(declared) : null;
  const real = normalizeType(detected);
  const realKind = kindOf(real);
  if (!realKind) return null;
  if (realKind === kind || kind === "file") return real;
  // An audio-only MP4/WebM is often detected as its video container: the container fits, and
  // is what it is served as.
  if (kind === "audio" && (real === "video/mp4" || real === "video/webm"))
    return real.replace("video/", "audio/");
  return null;
}
