import type { Store, StorePorts } from "./store.ts";

/**
 * Each port's methods by name, listed once: the Store takes these and only these from the part
 * serving the port (an adapter class's helpers stay out). `satisfies` keeps every name a method
 * of its port; composeStore's `Store` return type fails tsc when a port's method is not listed.
 */
const METHODS = {
  rooms: [
    "createGroupRoom",
    "getOrCreateDirectRoom",
    "getRoom",
    "listRoomsForUser",
    "updateRoom",
    "roomsWithAvatar",
    "clearAvatar",
  ],
  members: [
    "getMembers",
    "getMember",
    "listMemberIds",
    "listRoomIdsForUser",
    "directPartners",
    "shareRoom",
    "listMemberships",
    "updateReceipts",
    "updateSettings",
    "addMembers",
    "removeMember",
    "setRole",
  ],
  messages: [
    "insertMessages",
    "getMessage",
    "getMessages",
    "recordRollbacks",
    "getRolledBack",
    "getMessageByClientId",
    "listMessages",
    "roomCounters",
    "uncountedSeqsAfter",
  ],
  state: ["applyMessageOps", "getMessageStates", "getReactions", "listStarred"],
  blocks: ["block", "unblock", "isBlocked", "blockersOf", "isRoomBlocked", "directRoomId"],
  search: ["searchMessages"],
  media: [
    "createMedia",
    "getMedia",
    "getMediaMany",
    "updateMedia",
    "deleteMedia",
    "linkMedia",
    "mediaLinks",
    "mediaLinksForMember",
  ],
  devices: [
    "upsertDevice",
    "getDevice",
    "listDevices",
    "devicesOf",
    "deleteDevice",
    "touchDevice",
    "dropPushToken",
  ],
  sync: ["memberRooms", "messageChanges", "saveSyncCursor", "getSyncCursor"],
  lifecycle: ["ping", "close"],
} as const satisfies { [K in keyof StorePorts]: readonly (keyof StorePorts[K])[] };

/** The named methods of a part, bound to it: class methods read `this`, and live on the prototype. */
function pick<T extends object, N extends keyof T>(part: T, names: readonly N[]): Pick<T, N> {
  return Object.fromEntries(
    names.map((name) => [name, (part[name] as (...args: unknown[]) => unknown).bind(part)]),
  ) as Pick<T, N>;
}

/**
 * One Store from its parts, instead of a class that forwards every method by hand. The ports
 * are Disjoint (store.ts), so no spread below overwrites another's method.
 */
export function composeStore(p: StorePorts): Store {
  return {
    ...pick(p.rooms, METHODS.rooms),
    ...pick(p.members, METHODS.members),
    ...pick(p.messages, METHODS.messages),
    ...pick(p.state, METHODS.state),
    ...pick(p.blocks, METHODS.blocks),
    ...pick(p.search, METHODS.search),
    ...pick(p.media, METHODS.media),
    ...pick(p.devices, METHODS.devices),
    ...pick(p.sync, METHODS.sync),
    ...pick(p.lifecycle, METHODS.lifecycle),
  };
}
