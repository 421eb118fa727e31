import type { MessageEvents } from "../messages/messages.service.ts";
import { toMessageView } from "../messages/messages.views.ts";
import type { MessageRecord } from "../store/store.ts";
import { type ChatServer, roomChannel } from "./socket.server.ts";

/** Optimistic broadcast: every socket in the room, on every node, the sender's own included. */
export class SocketMessageEvents implements MessageEvents {
  readonly #io: ChatServer;
  constructor(io: ChatServer) {
    this.#io = io;
  }

  messageNew(message: MessageRecord): void {
    this.#io.to(roomChannel(message.room_id)).emit("message:new", { message: toMessageView(message) });
  }
}
