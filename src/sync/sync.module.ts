import type { DevicesService } from "../devices/devices.service.ts";
import { parse } from "../kernel/errors.ts";
import type { MessagesModule } from "../messages/messages.module.ts";
import type { Platform } from "../platform/platform.ts";
import type { SocketHandlers } from "../realtime/socket.handlers.ts";
import type { RoomsService } from "../rooms/rooms.service.ts";
import { syncRoutes } from "./sync.routes.ts";
import { syncMessagesSchema, syncRoomsSchema } from "./sync.schemas.ts";
import { SyncService } from "./sync.service.ts";

/** Sync: what changed in a user's rooms and messages since a device's cursor. */
export function syncModule(
  p: Platform,
  deps: { devices: DevicesService; messages: MessagesModule; rooms: RoomsService },
) {
  const sync = new SyncService({
    store: p.store,
    devices: deps.devices,
    counters: deps.messages.counters,
    pending: deps.messages.pending,
    reader: deps.messages.reader,
    rooms: deps.rooms,
  });
  return {
    sync,
    routes: () => [syncRoutes(sync)],
    // The pair answer in the ack and also emit their *:synced event to the asking socket.
    socketHandlers: {
      "chats:sync": async (socket, payload) => {
        const result = await sync.rooms(socket.data.user, parse(syncRoomsSchema.strict(), payload));
        const synced = { ...result, timestamp: new Date().toISOString() };
        socket.emit("chats:synced", synced);
        return synced;
      },
      "messages:sync": async (socket, payload) => {
        const result = await sync.messages(socket.data.user, parse(syncMessagesSchema.strict(), payload));
        socket.emit("messages:synced", result);
        return result;
      },
    } satisfies Partial<SocketHandlers>,
  };
}
