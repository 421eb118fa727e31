import { z } from "zod";
import type { AuthUser } from "../auth/jwt.ts";
import type { MessageView } from "../contract/views.ts";
import { decodeCursor, encodeCursor, pageLimitSchema } from "../kernel/cursor.ts";
import { AppError } from "../kernel/errors.ts";
import { idSchema } from "../kernel/ids.ts";
import { wellFormedText } from "../kernel/text.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { SearchStore } from "../store/store.ts";
import type { MessageReader } from "./message.reader.ts";

export const searchQuerySchema = z.object({
  q: wellFormedText()
    .min(1)
    .max(200)
    .refine((q) => !/\p{Cc}/u.test(q), "must not contain control characters"),
  room_id: idSchema.optional(),
  limit: pageLimitSchema,
  cursor: z.string().max(200).optional(),
});
export type SearchQueryInput = z.infer<typeof searchQuerySchema>;

/** The store's own keyset (each adapter checks its format). */
const cursorSchema = z.strictObject({ n: z.string().regex(/^[0-9A-Za-z:.|-]{1,80}$/) });

/** The index works on trigrams: a shorter term cannot be looked up. */
const MIN_TERM_CHARS = 3;
const MAX_TERMS = 10;

/**
 * Full-text search (API 19) over the caller's rooms: every term must appear (in any order),
 * accents ignored, any script. Most recently stored first (newest, give or take messages
 * persisted in the same instant), keyset-paginated. Messages are found once they
 * are stored (a message accepted a moment ago may take a few milliseconds to appear).
 */
export class SearchService {
  readonly #store: SearchStore;
  readonly #members: MembershipCache;
  readonly #reader: MessageReader;

  constructor(store: SearchStore, members: MembershipCache, reader: MessageReader) {
    this.#store = store;
    this.#members = members;
    this.#reader = reader;
  }

  async search(
    user: AuthUser,
    input: SearchQueryInput,
  ): Promise<{ messages: MessageView[]; next_cursor: string | null }> {
    const terms = input.q.split(/\s+/u).filter(Boolean);
    if (terms.length === 0) throw new AppError("invalid_request", "q has no search terms");
    if (terms.length > MAX_TERMS) throw new AppError("invalid_request", `at most ${MAX_TERMS} search terms`);
    if (terms.some((t) => [...t].length < MIN_TERM_CHARS)) {
      throw new AppError("invalid_request", `each search term needs at least ${MIN_TERM_CHARS} characters`);
    }
    if (input.room_id) await this.#members.assertMember(input.room_id, user.id);
    const found = await this.#store.searchMessages(user.id, {
      terms,
      roomId: input.room_id,
      limit: input.limit,
      after: input.cursor ? decodeCursor(input.cursor, cursorSchema).n : undefined,
    });
    // The store filters what it has applied; a delete or hide still waiting for the persist
    // pool is laid over here, so a tombstone or a hidden message never shows.
    const views = await this.#reader.views(found.messages, user.id, true);
    return {
      messages: views.filter((m) => !m.deleted),
      next_cursor: found.next ? encodeCursor({ n: found.next }) : null,
    };
  }
}
