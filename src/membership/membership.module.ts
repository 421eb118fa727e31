import { FanoutJobs, fanoutQueue } from "../fanout/fanout.queue.ts";
import type { Platform } from "../platform/platform.ts";
import { MembershipCache } from "./membership.cache.ts";
import { MembershipChange } from "./membership-change.ts";
import { RoomLocks } from "./room-lock.ts";

/** Room membership: the cached member sets every check reads, changes that keep them true, room locks. */
export function membershipModule(p: Platform) {
  const members = new MembershipCache(p.redis, p.keys, p.store, p.config.MEMBERSHIP_CACHE_TTL_S);
  return {
    members,
    change: new MembershipChange(new FanoutJobs(p.jobs(fanoutQueue)), members, p.logger),
    locks: new RoomLocks(p.redis, p.keys),
    /** The fanout pool's membership jobs. */
    fanoutJobs: {
      "membership-invalidate": ({ room_id }: { room_id: string }) => members.invalidate(room_id),
    },
  };
}
export type MembershipModule = ReturnType<typeof membershipModule>;
