import type { Redis } from "ioredis";
import type { GroupEvents } from "../rooms/groups.service.ts";
import type { ReceiptEvents, ReceiptUpdate } from "../rooms/receipts.service.ts";
import type { RoomEvents } from "../rooms/rooms.service.ts";
import { toRoomView } from "../rooms/rooms.views.ts";
import type { RoomRecord } from "../store/store.ts";
import { roomChannel, userChannel } from "./channels.ts";
import type { ChatServer } from "./socket.server.ts";

/** Puts every member's sockets, on every node, into a new room, then tells them. */
export class SocketRoomEvents implements RoomEvents, ReceiptEvents, GroupEvents {
  readonly #io: ChatServer;
  readonly #pub: Redis;
  /** pub: the adapter's publishing connection (socket moves go through it). */
  constructor(io: ChatServer, pub: Redis) {
    this.#io = io;
    this.#pub = pub;
  }

  /**
   * Socket moves are published on the adapter's connection and applied by every node (this one
   * too) when they come back from Redis. A PING on that connection returns once Redis has
   * taken the move, so anything accepted after this resolves is published after it, and every
   * node applies the move before delivering that.
   */
  async #ordered(): Promise<void> {
    await this.#pub.ping();
  }

  async joinRoom(userIds: string[], roomId: string): Promise<void> {
    this.#io.in(userIds.map(userChannel)).socketsJoin(roomChannel(roomId));
    await this.#ordered();
  }

  async leaveRoom(userIds: string[], roomId: string): Promise<void> {
    this.#io.in(userIds.map(userChannel)).socketsLeave(roomChannel(roomId));
    await this.#ordered();
  }

  roomUpdated(room: RoomRecord): void {
    this.#io.to(roomChannel(room.id)).emit("room:updated", { room: toRoomView(room, null) });
  }

  membersAdded(roomId: string, userIds: string[]): void {
    this.#io.to(roomChannel(roomId)).emit("room:member_added", { room_id: roomId, user_ids: userIds });
  }

  membersRemoved(roomId: string, userIds: string[]): void {
    this.#io
      .to([roomChannel(roomId), ...userIds.map(userChannel)])
      .emit("room:member_removed", { room_id: roomId, user_ids: userIds });
  }

  async roomCreated(room: RoomRecord, memberIds: string[]): Promise<void> {
    const channels = memberIds.map(userChannel);
    this.#io.in(channels).socketsJoin(roomChannel(room.id));
    this.#io.to(channels).emit("room:created", { room: toRoomView(room, null) });
  }

  receiptUpdated(update: ReceiptUpdate): void {
    // The room, and the reader's own devices by name (they are in the room too; each socket gets it once).
    this.#io.to([roomChannel(update.room_id), userChannel(update.user_id)]).emit("receipt:updated", update);
  }
}
