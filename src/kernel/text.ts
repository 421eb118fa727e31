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

/**
 * Characters a name shown to other people may not hold: controls (newlines included), line and
 * paragraph separators, and the bidirectional controls that reorder what follows them (a group
 * named with a right-to-left override could pass itself off as something else). Joiners and
 * variation selectors stay allowed: emoji need them.
 */
const NOT_IN_NAMES = /[\p{Cc}\p{Zl}\p{Zp}\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069]/u;

/** A name others see (a group's, a demo user's): well-formed, visible, nothing that reorders or breaks lines. */
export const displayName = (max: number) =>
  wellFormedText()
    .trim()
    .min(1)
    .max(max)
    .refine((s) => !isBlank(s), "must not be blank")
    .refine(
      (s) => !NOT_IN_NAMES.test(s),
      "must not hold control, line-break or bidirectional control characters",
    );
