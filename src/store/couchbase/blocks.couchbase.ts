import type { BlocksStore } from "../store.ts";
import { type Db, keys } from "./couchbase.layout.ts";

/** BlocksStore on Couchbase: a document per (blocker, blocked) while the block lasts. */
export class CouchbaseBlocks implements BlocksStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async block(blockerId: string, blockedId: string, at: string): Promise<void> {
    await this.#db.blocks.insert(keys.block(blockerId, blockedId), {
      blocker_id: blockerId,
      blocked_id: blockedId,
      at,
    });
  }

  async unblock(blockerId: string, blockedId: string): Promise<void> {
    await this.#db.blocks.remove(keys.block(blockerId, blockedId));
  }

  async isBlocked(blockerId: string, blockedId: string): Promise<boolean> {
    return (await this.#db.blocks.value(keys.block(blockerId, blockedId))) !== null;
  }

  async blockersOf(userId: string, userIds: string[]): Promise<string[]> {
    const found = await this.#db.blocks.many(userIds.map((u) => keys.block(u, userId)));
    return userIds.filter((u) => found.has(keys.block(u, userId)));
  }

  async isRoomBlocked(roomId: string): Promise<boolean> {
    const room = await this.#db.rooms.value(roomId);
    if (room?.type !== "direct") return false;
    const [a, b] = room.member_ids;
    if (!a || !b) return false;
    const found = await this.#db.blocks.many([keys.block(a, b), keys.block(b, a)]);
    return found.size > 0;
  }

  async directRoomId(a: string, b: string): Promise<string | null> {
    const roomId = (await this.#db.directRooms.value(keys.pair(a, b)))?.room_id;
    // The lookup is written before its room: it counts once the room exists.
    return roomId && (await this.#db.rooms.value(roomId)) ? roomId : null;
  }
}
