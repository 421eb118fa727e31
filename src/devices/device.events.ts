import { userChannel } from "../realtime/channels.ts";
import type { ChatServer } from "../realtime/socket.server.ts";
import type { DeviceEvents, DeviceView } from "./devices.service.ts";

/** `device:updated` to every socket of the user, on every node. */
export class SocketDeviceEvents implements DeviceEvents {
  readonly #io: ChatServer;
  constructor(io: ChatServer) {
    this.#io = io;
  }

  deviceUpdated(
    userId: string,
    payload: { device: DeviceView } | { device_id: string; deleted: true },
  ): void {
    this.#io.to(userChannel(userId)).emit("device:updated", payload);
  }
}
