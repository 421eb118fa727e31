import { z } from "zod";
import type { AuthUser } from "../auth/jwt.ts";
import type { MessageView } from "../contract/views.ts";
import { decodeCursor, encodeCursor } from "../kernel/cursor.ts";
import { idSchema } from "../kernel/ids.ts";
import type { ListQuery } from "../kernel/params.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { MessageRecord, MessageStateStore } from "../store/store.ts";
import type { MessageReader } from "./message.reader.ts";

const starCursorSchema = z.object({ s: z.iso.datetime(), m: idSchema });

/**
 * The caller's starred messages (API.md 32), most recently starred first: only messages they
 * can still see (a member of the room, not hidden for them) and not tombstones. A page may come
 * out shorter than `limit` when some stars were left out; `next_cursor` goes on from there.
 */
export class StarsService {
  readonly #store: Pick<MessageStateStore, "listStarred">;
  readonly #members: MembershipCache;
  readonly #reader: MessageReader;

  constructor(
    store: Pick<MessageStateStore, "listStarred">,
    members: MembershipCache,
    reader: MessageReader,
  ) {
    this.#store = store;
    this.#members = members;
    this.#reader = reader;
  }

  async list(
    user: AuthUser,
    query: ListQuery,
  ): Promise<{ messages: MessageView[]; next_cursor: string | null }> {
    const cursor = query.cursor ? decodeCursor(query.cursor, starCursorSchema) : undefined;
    const rows = await this.#store.listStarred(
      user.id,
      query.limit + 1,
      cursor ? { starred_at: cursor.s, message_id: cursor.m } : undefined,
    );
    const page = rows.slice(0, query.limit);
    const visible: MessageRecord[] = [];
    for (const row of page) {
      if (!(await this.#members.isMember(row.room_id, user.id))) continue;
      const record = await this.#reader.record(row.message_id);
      if (record) visible.push(record);
    }
    const views = await this.#reader.views(visible, user.id, true);
    const last = page.at(-1);
    return {
      messages: views.filter((v) => !v.deleted && v.starred),
      next_cursor:
        rows.length > query.limit && last ? encodeCursor({ s: last.starred_at, m: last.message_id }) : null,
    };
  }
}
