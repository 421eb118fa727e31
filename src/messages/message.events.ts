import { messagesBroadcast } from "../observability/metrics.ts";
import { roomChannel, userChannel } from "../realtime/channels.ts";
import type { ChatServer } from "../realtime/socket.server.ts";
import type { MessageUpdateEvents } from "./message-ops.service.ts";
import type { MessageEvents } from "./messages.service.ts";
import type { MessageView } from "./messages.views.ts";

/** Optimistic broadcast: every socket in the room, on every node, the sender's own included. */
export class SocketMessageEvents implements MessageEvents, MessageUpdateEvents {
  readonly #io: ChatServer;
  constructor(io: ChatServer) {
    this.#io = io;
  }

  messageNew(message: MessageView): void {
    this.#io.to(roomChannel(message.room_id)).emit("message:new", { message });
    messagesBroadcast.inc();
  }

  mentionNew(userIds: string[], message: MessageView): void {
    this.#io.to(userIds.map(userChannel)).emit("mention:new", { message });
  }

  messageUpdated(message: MessageView): void {
    this.#io.to(roomChannel(message.room_id)).emit("message:updated", { message });
  }

  messageUpdatedFor(userId: string, message: MessageView): void {
    this.#io.to(userChannel(userId)).emit("message:updated", { message });
  }
}
