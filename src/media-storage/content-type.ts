/** Detectors sometimes name a type differently from what clients declare: one spelling each. */
const ALIASES: Record<string, string> = {
  "image/jpg": "image/jpeg",
  "audio/mp3": "audio/mpeg",
  "audio/x-wav": "audio/wav",
  "audio/vnd.wave": "audio/wav",
  "audio/m4a": "audio/x-m4a",
  "video/x-matroska": "video/matroska",
  "audio/x-flac": "audio/flac",
  "application/x-zip-compressed": "application/zip",
};

/** `image/JPEG; charset=x` to `image/jpeg`, aliases folded. */
export function normalizeType(contentType: string): string {
  const bare = (contentType.split(";")[0] ?? "").trim().toLowerCase();
  // Own keys only: "constructor" or "__proto__" must stay what they are (off the list).
  return Object.hasOwn(ALIASES, bare) ? (ALIASES[bare] ?? bare) : bare;
}
