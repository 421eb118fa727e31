import type { AuthUser } from "../auth/jwt.ts";
import { AppError } from "../kernel/errors.ts";
import type { MembershipChange } from "../membership/membership-change.ts";
import type { BlocksStore } from "../store/store.ts";

/**
 * Blocks (API 20) and the one check every write path runs: while a block stands, neither user
 * sends in their direct room (the room's cached member set carries the block, checked in the
 * accept script), and the blocked user can neither create a direct room with the blocker nor
 * add the blocker to a group. History stays readable.
 */
export class BlocksService {
  readonly #store: BlocksStore;
  readonly #change: MembershipChange;

  constructor(store: BlocksStore, change: MembershipChange) {
    this.#store = store;
    this.#change = change;
  }

  async block(user: AuthUser, targetId: string): Promise<void> {
    if (targetId === user.id) throw new AppError("invalid_request", "you cannot block yourself");
    await this.#withDirectRoom(user.id, targetId, () =>
      this.#store.block(user.id, targetId, new Date().toISOString()),
    );
  }

  async unblock(user: AuthUser, targetId: string): Promise<void> {
    if (targetId === user.id) throw new AppError("invalid_request", "you cannot block yourself");
    await this.#withDirectRoom(user.id, targetId, () => this.#store.unblock(user.id, targetId));
  }

  /** Room creation: the blocked user cannot open a direct room with the blocker. */
  async assertCanOpenDirect(user: AuthUser, otherId: string): Promise<void> {
    if (await this.#store.isBlocked(otherId, user.id)) {
      throw new AppError("forbidden", "this user does not accept a conversation with you");
    }
  }

  /** Member adds (and room creation with members): the blocked user cannot add the blocker. */
  async assertCanAdd(user: AuthUser, userIds: string[]): Promise<void> {
    const blockers = await this.#store.blockersOf(user.id, userIds);
    if (blockers.length > 0) {
      throw new AppError("forbidden", "some of these users do not accept being added by you", {
        user_ids: blockers,
      });
    }
  }

  /** A change to a block: the pair's direct room's cached members (and block marker) are refreshed with it. */
  async #withDirectRoom(a: string, b: string, commit: () => Promise<void>): Promise<void> {
    const roomId = await this.#store.directRoomId(a, b);
    if (roomId) await this.#change.run(roomId, commit);
    else await commit();
  }
}
