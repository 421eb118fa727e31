import { Emitter } from "@socket.io/redis-emitter";
import type { Redis } from "ioredis";
import type { MediaView } from "../media/media.views.ts";
import type { MediaEvents } from "../media/media-updates.ts";
import type { MessageView } from "../messages/messages.views.ts";
import type { FailureEvents } from "../messages/persist-messages.usecase.ts";
import { messagesBroadcast } from "../observability/metrics.ts";
import type { MessageRecord } from "../store/store.ts";
import { roomChannel, userChannel } from "./channels.ts";

/** Workers never host Socket.IO: they publish through the adapter's Redis channel. */
export class WorkerEvents implements FailureEvents, MediaEvents {
  readonly #emitter: Emitter;
  constructor(redis: Redis, key: string) {
    this.#emitter = new Emitter(redis, { key });
  }

  messageFailed(m: MessageRecord, reason: string): void {
    this.#emitter
      .to(roomChannel(m.room_id))
      .emit("message:failed", { message_id: m.id, room_id: m.room_id, client_id: m.client_id, reason });
  }

  mediaSettled(ownerId: string, media: MediaView): void {
    this.#emitter
      .to(userChannel(ownerId))
      .emit(media.status === "ready" ? "media:ready" : "media:failed", { media });
  }

  messageNew(message: MessageView): void {
    this.#emitter.to(roomChannel(message.room_id)).emit("message:new", { message });
    messagesBroadcast.inc();
  }

  messageUpdated(message: MessageView): void {
    this.#emitter.to(roomChannel(message.room_id)).emit("message:updated", { message });
  }
}
