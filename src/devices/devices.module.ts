import type { Platform } from "../platform/platform.ts";
import type { Broadcaster } from "../realtime/adapter.ts";
import { SocketDeviceEvents } from "./device.events.ts";
import { devicesRoutes } from "./devices.routes.ts";
import { DevicesService } from "./devices.service.ts";

/** A user's devices: registration, push tokens, the per-device sync cursors. */
export function devicesModule(p: Platform, deps: { broadcaster: Broadcaster }) {
  const devices = new DevicesService(
    p.store,
    new SocketDeviceEvents(deps.broadcaster),
    p.config.DEVICES_MAX_PER_USER,
  );
  return { devices, routes: () => [devicesRoutes(devices)] };
}
