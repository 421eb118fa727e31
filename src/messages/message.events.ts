import type { MediaView, MessageView } from "../contract/views.ts";
import { messagesBroadcast } from "../observability/metrics.ts";
import type { Broadcaster } from "../realtime/adapter.ts";
import { roomChannel, userChannel } from "../realtime/channels.ts";
import type { MessageRecord } from "../store/store.ts";
import type { MediaEvents } from "./media-updates.ts";
import type { MessageUpdateEvents } from "./message-ops.service.ts";
import type { MessageEvents } from "./messages.service.ts";
import type { FailureEvents } from "./persist-messages.usecase.ts";

/**
 * The message events, through the API's Socket.IO server or a worker's publisher alike
 * (Broadcaster). Optimistic: every socket in the room, on every node, the sender's own included.
 */
export class MessageBroadcasts implements MessageEvents, MessageUpdateEvents, FailureEvents, MediaEvents {
  readonly #to: Broadcaster;
  constructor(broadcaster: Broadcaster) {
    this.#to = broadcaster;
  }

  messageNew(message: MessageView): void {
    this.#to.to(roomChannel(message.room_id)).emit("message:new", { message });
    messagesBroadcast.inc();
  }

  mentionNew(userIds: string[], message: MessageView): void {
    this.#to.to(userIds.map(userChannel)).emit("mention:new", { message });
  }

  messageUpdated(message: MessageView): void {
    this.#to.to(roomChannel(message.room_id)).emit("message:updated", { message });
  }

  messageUpdatedFor(userId: string, message: MessageView): void {
    this.#to.to(userChannel(userId)).emit("message:updated", { message });
  }

  messageFailed(m: MessageRecord, reason: string): void {
    this.#to
      .to(roomChannel(m.room_id))
      .emit("message:failed", { message_id: m.id, room_id: m.room_id, client_id: m.client_id, reason });
  }

  mediaSettled(ownerId: string, media: MediaView): void {
    this.#to
      .to(userChannel(ownerId))
      .emit(media.status === "ready" ? "media:ready" : "media:failed", { media });
  }
}
