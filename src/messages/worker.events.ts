import type { MediaView } from "../media/media.views.ts";
import { messagesBroadcast } from "../observability/metrics.ts";
import { type Broadcaster, workerBroadcaster } from "../realtime/adapter.ts";
import { roomChannel, userChannel } from "../realtime/channels.ts";
import type { RedisClient, RedisTarget } from "../redis/redis.ts";
import type { MessageRecord } from "../store/store.ts";
import type { MediaEvents } from "./media-updates.ts";
import type { MessageView } from "./messages.views.ts";
import type { FailureEvents } from "./persist-messages.usecase.ts";

/** Workers never host Socket.IO: they publish through the adapter's Redis channels (adapter.ts). */
export class WorkerEvents implements FailureEvents, MediaEvents {
  readonly #emitter: Broadcaster;
  constructor(broadcaster: Broadcaster) {
    this.#emitter = broadcaster;
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

/** The workers' events, and what closing them takes. */
export function workerEvents(
  target: RedisTarget,
  redis: RedisClient,
  key: string,
): { events: WorkerEvents; close(): Promise<void> } {
  const { broadcaster, close } = workerBroadcaster(redis, key, target.clusterNodes !== null);
  return { events: new WorkerEvents(broadcaster), close };
}
