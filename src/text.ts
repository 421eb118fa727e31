import { z } from "zod";

/**
 * Text from clients must be well-formed UTF-16: a lone surrogate cannot be stored as UTF-8
 * (SQLite would keep U+FFFD while the broadcast carried the surrogate) and breaks Lua's JSON
 * decoder. Rejected with 400 rather than silently changed, so what is acknowledged is what is stored.
 */
export const wellFormedText = () =>
  z.string().refine((s) => s.isWellFormed(), "must be well-formed Unicode (no unpaired surrogates)");

/**
 * Whitespace, controls, format characters and other invisibles (zero-width space and joiners,
 * word joiner, BOM, Hangul fillers, the blank Braille pattern...).
 */
const INVISIBLE = /[\p{White_Space}\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]/gu;

/** True when nothing of the text would be visible. */
export function isBlank(text: string): boolean {
  return text.replace(INVISIBLE, "").length === 0;
}
