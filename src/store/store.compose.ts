import type {
  BlocksStore,
  DevicesStore,
  MediaStore,
  MembersStore,
  MessageStateStore,
  MessagesStore,
  RoomsStore,
  SearchStore,
  Store,
  SyncStore,
} from "./store.ts";

/** The parts an adapter is made of, each typed by the port it serves (one object may serve several). */
export type StoreParts = {
  rooms: RoomsStore;
  members: MembersStore;
  messages: MessagesStore;
  state: MessageStateStore;
  blocks: BlocksStore;
  search: SearchStore;
  media: MediaStore;
  devices: DevicesStore;
  sync: SyncStore;
  lifecycle: Pick<Store, "ping" | "close">;
};

/** A part's methods bound to it, as a plain object: class methods live on the prototype, which a spread skips. */
function bound<T extends object>(part: T): T {
  const out: Record<string, unknown> = {};
  for (let proto = part; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const name of Object.getOwnPropertyNames(proto)) {
      const value: unknown = Reflect.get(part, name);
      if (name !== "constructor" && typeof value === "function" && !(name in out))
        out[name] = value.bind(part);
    }
  }
  return out as T;
}

/** One Store from its parts, instead of a class that forwards every method by hand. */
export function composeStore(p: StoreParts): Store {
  return {
    ...bound(p.rooms),
    ...bound(p.members),
    ...bound(p.messages),
    ...bound(p.state),
    ...bound(p.blocks),
    ...bound(p.search),
    ...bound(p.media),
    ...bound(p.devices),
    ...bound(p.sync),
    ...bound(p.lifecycle),
  };
}
