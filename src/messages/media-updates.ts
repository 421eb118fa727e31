import type { MediaView, MessageView } from "../contract/views.ts";
import type { MediaViews } from "../media/media.views.ts";
import type { MediaRecord, MediaStore } from "../store/store.ts";
import type { MessageReader } from "./message.reader.ts";
import { neutral } from "./messages.views.ts";
import type { MessageOpsRepository } from "./ops.repository.ts";
import type { PersistJobs } from "./persist.queue.ts";

/** Realtime side of media changes; the media pool implements it with the Redis emitter. */
export interface MediaEvents {
  /** `media:ready` / `media:failed` to the uploader's sockets. */
  mediaSettled(ownerId: string, media: MediaView): void;
  /** `message:updated` to the message's room. */
  messageUpdated(message: MessageView): void;
}

/** Most messages one media change announces (forwards reuse a media; beyond this, reads still see it). */
const MAX_LINKS = 10_000;

/**
 * Tells everyone a media changed: its uploader, and every room with a message that carries it.
 * Each such message gets a `media` op (a new room revision, so sync sees the change) and a
 * `message:updated`. Safe to repeat: a repeat only bumps revisions again.
 */
export class MediaUpdates {
  readonly #store: Pick<MediaStore, "mediaLinks">;
  readonly #reader: MessageReader;
  readonly #ops: MessageOpsRepository;
  readonly #persist: PersistJobs;
  readonly #views: MediaViews;
  readonly #events: MediaEvents;

  constructor(deps: {
    store: Pick<MediaStore, "mediaLinks">;
    reader: MessageReader;
    ops: MessageOpsRepository;
    persist: PersistJobs;
    views: MediaViews;
    events: MediaEvents;
  }) {
    this.#store = deps.store;
    this.#reader = deps.reader;
    this.#ops = deps.ops;
    this.#persist = deps.persist;
    this.#views = deps.views;
    this.#events = deps.events;
  }

  async announce(media: MediaRecord): Promise<void> {
    if (!media.deleted_at && (media.status === "ready" || media.status === "failed")) {
      this.#events.mediaSettled(media.owner_id, await this.#views.view(media));
    }
    for (const link of await this.#store.mediaLinks(media.id, MAX_LINKS)) {
      // A link whose message was never accepted names nothing: skip it.
      const record = await this.#reader.record(link.message_id);
      if (!record || record.media_id !== media.id) continue;
      const result = await this.#ops.accept({
        kind: "media",
        message_id: record.id,
        room_id: record.room_id,
        at: new Date().toISOString(),
      });
      if (result.kind === "backlog_full")
        throw new Error("persist backlog is full; retrying the announcement");
      await this.#persist.enqueueOp(result.op);
      const [view] = await this.#reader.views([record], "");
      if (view) this.#events.messageUpdated(neutral(view));
    }
  }
}
