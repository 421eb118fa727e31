import type { DeviceUpdate } from "../contract/events.ts";
import type { Broadcaster } from "../realtime/adapter.ts";
import { userChannel } from "../realtime/channels.ts";
import type { DeviceEvents } from "./devices.service.ts";

/** `device:updated` to every socket of the user, on every node. */
export class SocketDeviceEvents implements DeviceEvents {
  readonly #to: Broadcaster;
  constructor(broadcaster: Broadcaster) {
    this.#to = broadcaster;
  }

  deviceUpdated(userId: string, payload: DeviceUpdate): void {
    this.#to.to(userChannel(userId)).emit("device:updated", payload);
  }
}
