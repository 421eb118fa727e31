import { devicesModule } from "../devices/devices.module.ts";
import { watchBacklog } from "../observability/metrics.ts";
import type { Platform } from "../platform/platform.ts";
import { presenceModule } from "../presence/presence.module.ts";
import { registerSocketHandlers, type SocketHandlers } from "../realtime/socket.handlers.ts";
import { roomsModule } from "../rooms/rooms.module.ts";
import { syncModule } from "../sync/sync.module.ts";
import { coreFeatures } from "./features.ts";
import type { openSocketServer } from "./socket.ts";

/**
 * Every feature the API serves, composed once: the core every process shares, then the
 * API-only features on top (rooms, presence, devices, sync), their socket handlers registered.
 * Returns the routers to mount under /api/v1/chat.
 */
export function apiFeatures(p: Platform, socket: ReturnType<typeof openSocketServer>) {
  const { io } = socket;
  const core = coreFeatures(p, io, {
    // A deleted media drops from the group avatars that show it (groups are built below).
    mediaDeleted: (mediaId, actorId) => rooms.groups.mediaDeleted(mediaId, actorId),
  });
  const { membership, media, messages } = core;
  watchBacklog(messages.pending);
  const presence = presenceModule(p, { io, members: membership.members });
  const rooms = roomsModule(p, {
    io,
    roomsReady: socket.roomsReady,
    membership,
    messages,
    media: media.service,
    presence: presence.presence,
  });
  const devices = devicesModule(p, { broadcaster: io });
  const sync = syncModule(p, { devices: devices.devices, messages, rooms: rooms.rooms });
  const handlers: SocketHandlers = {
    ...messages.socketHandlers,
    ...rooms.socketHandlers,
    ...presence.socketHandlers,
    ...sync.socketHandlers,
  };
  registerSocketHandlers(io, handlers, [presence.lifecycle], p.logger);
  return {
    media,
    chatRoutes: () => [
      ...rooms.routes(),
      ...messages.routes(),
      ...media.routes(),
      ...devices.routes(),
      ...sync.routes(),
    ],
  };
}
