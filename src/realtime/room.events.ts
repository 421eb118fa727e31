import type { ReceiptEvents, ReceiptUpdate } from "../rooms/receipts.service.ts";
import type { RoomEvents } from "../rooms/rooms.service.ts";
import { toRoomView } from "../rooms/rooms.views.ts";
import type { RoomRecord } from "../store/store.ts";
import { roomChannel, userChannel } from "./channels.ts";
import type { ChatServer } from "./socket.server.ts";

/** Puts every member's sockets, on every node, into a new room, then tells them. */
export class SocketRoomEvents implements RoomEvents, ReceiptEvents {
  readonly #io: ChatServer;
  constructor(io: ChatServer) {
    this.#io = io;
  }

  async roomCreated(room: RoomRecord, memberIds: string[]): Promise<void> {
    const channels = memberIds.map(userChannel);
    this.#io.in(channels).socketsJoin(roomChannel(room.id));
    this.#io.to(channels).emit("room:created", { room: toRoomView(room, null) });
  }

  receiptUpdated(update: ReceiptUpdate): void {
    this.#io.to(roomChannel(update.room_id)).emit("receipt:updated", update);
  }
}
