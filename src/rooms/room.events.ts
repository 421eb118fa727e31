import { z } from "zod";
import type { MembershipMove, ReceiptUpdate } from "../contract/events.ts";
import { idSchema, userIdSchema } from "../kernel/ids.ts";
import type { Exact } from "../kernel/type-checks.ts";
import type { Logger } from "../observability/logger.ts";
import type { RoomsReady } from "../realtime/adapter.ts";
import { roomChannel, userChannel } from "../realtime/channels.ts";
import type { ChatServer } from "../realtime/socket.server.ts";
import type { RoomRecord } from "../store/store.ts";
import type { GroupEvents } from "./groups.service.ts";
import type { ReceiptEvents } from "./receipts.service.ts";
import type { RoomEvents } from "./rooms.service.ts";
import { toRoomView } from "./rooms.views.ts";

/** Another node's move arrives through Redis: parsed, not trusted. */
const moveSchema = z.strictObject({
  kind: z.enum(["join", "leave"]),
  user_ids: z.array(userIdSchema).min(1),
  room_id: idSchema,
});
const _move: Exact<z.infer<typeof moveSchema>, MembershipMove> = true;

/** Room events, and the socket moves that follow membership on every node. */
export class SocketRoomEvents implements RoomEvents, ReceiptEvents, GroupEvents {
  readonly #io: ChatServer;
  readonly #logger: Logger;
  readonly #roomsReady: RoomsReady;

  constructor(io: ChatServer, logger: Logger, roomsReady: RoomsReady) {
    this.#io = io;
    this.#logger = logger;
    this.#roomsReady = roomsReady;
    // Another node's membership change: move this node's sockets, then confirm (if asked to:
    // what comes through Redis is not trusted, the ack's presence included).
    io.on("membership:move", async (payload: unknown, ack: ((ok: boolean) => void) | undefined) => {
      const move = moveSchema.safeParse(payload);
      const ok = move.success
        ? await this.#applyLocally(move.data).then(
            () => true,
            () => false,
          )
        : false;
      ack?.(ok);
    });
  }

  /** Confirmed only once this node receives the room's broadcasts (a join on Redis Cluster subscribes). */
  async #applyLocally(move: MembershipMove): Promise<void> {
    const sockets = this.#io.local.in(move.user_ids.map(userChannel));
    if (move.kind === "join") {
      sockets.socketsJoin(roomChannel(move.room_id));
      if (this.#io.sockets.adapter.rooms.has(roomChannel(move.room_id)))
        await this.#roomsReady([roomChannel(move.room_id)]);
    } else sockets.socketsLeave(roomChannel(move.room_id));
  }

  /**
   * Moves the users' sockets on every node and resolves once every node has confirmed (or the
   * adapter's request timeout ran out, 2 s: a node that cannot answer that long is logged). Every
   * node delivers its own sockets' messages directly, not through Redis, so the move must be
   * applied everywhere before the change's system message is taken: then nothing sequenced
   * after a removal reaches a removed member, on any node.
   */
  async #move(move: MembershipMove): Promise<void> {
    await this.#applyLocally(move);
    try {
      await this.#io.serverSideEmitWithAck("membership:move", move);
    } catch (err) {
      this.#logger.warn(
        { room_id: move.room_id, err: err instanceof Error ? err.message : String(err) },
        "not every node confirmed a socket move in time",
      );
    }
  }

  joinRoom(userIds: string[], roomId: string): Promise<void> {
    return this.#move({ kind: "join", user_ids: userIds, room_id: roomId });
  }

  leaveRoom(userIds: string[], roomId: string): Promise<void> {
    return this.#move({ kind: "leave", user_ids: userIds, room_id: roomId });
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
    await this.#move({ kind: "join", user_ids: memberIds, room_id: room.id });
    this.#io.to(memberIds.map(userChannel)).emit("room:created", { room: toRoomView(room, null) });
  }

  receiptUpdated(update: ReceiptUpdate): void {
    // The room, and the reader's own devices by name (they are in the room too; each socket gets it once).
    this.#io.to([roomChannel(update.room_id), userChannel(update.user_id)]).emit("receipt:updated", update);
  }
}
