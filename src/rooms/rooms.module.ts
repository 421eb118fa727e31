import { parse } from "../kernel/errors.ts";
import type { MediaService } from "../media/media.service.ts";
import type { MembershipModule } from "../membership/membership.module.ts";
import type { MessagesModule } from "../messages/messages.module.ts";
import { NotifyJobs, notifyQueue } from "../notify/notify.queue.ts";
import type { Platform } from "../platform/platform.ts";
import type { Presence } from "../presence/presence.ts";
import type { RoomsReady } from "../realtime/adapter.ts";
import type { SocketHandlers } from "../realtime/socket.handlers.ts";
import type { ChatServer } from "../realtime/socket.server.ts";
import { BlocksService } from "./blocks.service.ts";
import { GroupsService } from "./groups.service.ts";
import { ReceiptsService } from "./receipts.service.ts";
import { SocketRoomEvents } from "./room.events.ts";
import { roomsRoutes } from "./rooms.routes.ts";
import { socketReceiptSchema } from "./rooms.schemas.ts";
import { RoomsService } from "./rooms.service.ts";
import { UnreadCounter } from "./unread.ts";
import { usersRoutes } from "./users.routes.ts";

/**
 * Rooms: lists and settings, groups and their members, receipts and unread counts, blocks. API
 * only: its events move sockets between Socket.IO rooms on every node.
 */
export function roomsModule(
  p: Platform,
  deps: {
    io: ChatServer;
    roomsReady: RoomsReady;
    membership: MembershipModule;
    messages: MessagesModule;
    media: MediaService;
    presence: Presence;
  },
) {
  const c = p.config;
  const { members, change, locks } = deps.membership;
  const { counters, reader } = deps.messages;
  const events = new SocketRoomEvents(deps.io, p.logger, deps.roomsReady);
  const blocks = new BlocksService(p.store, change);
  const rooms = new RoomsService({
    store: p.store,
    members,
    events,
    config: { maxGroupMembers: c.GROUP_MAX_MEMBERS },
    unread: new UnreadCounter(p.redis, p.keys, p.store),
    counters,
    blocks,
    limits: p.limits,
    media: reader,
  });
  const receipts = new ReceiptsService({
    store: p.store,
    members,
    counters,
    events,
    notify: new NotifyJobs(p.jobs(notifyQueue)),
  });
  const groups = new GroupsService({
    store: p.store,
    members,
    change,
    counters,
    messages: deps.messages.messages,
    events,
    view: (user, roomId) => rooms.get(user, roomId),
    config: { maxGroupMembers: c.GROUP_MAX_MEMBERS },
    blocks,
    locks,
    limits: p.limits,
    media: deps.media,
  });
  return {
    rooms,
    receipts,
    groups,
    routes: () => [roomsRoutes(rooms, receipts, groups), usersRoutes(blocks, deps.presence)],
    socketHandlers: {
      "message:read": async (socket, payload) => {
        const { room_id, seq } = parse(socketReceiptSchema, payload);
        await receipts.mark(socket.data.user, room_id, "read", seq);
        return {};
      },
      "message:delivered": async (socket, payload) => {
        const { room_id, seq } = parse(socketReceiptSchema, payload);
        await receipts.mark(socket.data.user, room_id, "delivered", seq);
        return {};
      },
    } satisfies Partial<SocketHandlers>,
  };
}
