import { FanoutJobs, fanoutQueue } from "../fanout/fanout.queue.ts";
import { parse } from "../kernel/errors.ts";
import type { MediaViews } from "../media/media.views.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { Platform } from "../platform/platform.ts";
import type { Broadcaster } from "../realtime/adapter.ts";
import type { SocketHandlers } from "../realtime/socket.handlers.ts";
import type { MessageRecord } from "../store/store.ts";
import { AcceptRepository } from "./accept.repository.ts";
import { BacklogGauge } from "./backlog.gauge.ts";
import { FanoutForward } from "./fanout-forward.usecase.ts";
import { ForwardService } from "./forward.service.ts";
import { MediaUpdates } from "./media-updates.ts";
import { MessageBroadcasts } from "./message.events.ts";
import { MessageReader } from "./message.reader.ts";
import { MessageOpsService } from "./message-ops.service.ts";
import { messagesRoutes } from "./messages.routes.ts";
import { socketSendSchema } from "./messages.schemas.ts";
import type { MediaAttachments } from "./messages.service.ts";
import { MessagesService } from "./messages.service.ts";
import { MessageOpsRepository } from "./ops.repository.ts";
import { PendingRepository } from "./pending.repository.ts";
import { PersistJobs, persistQueue } from "./persist.queue.ts";
import { PersistMessages } from "./persist-messages.usecase.ts";
import { RoomCounters } from "./room-counters.repository.ts";
import { SearchService } from "./search.service.ts";
import { StarsService } from "./stars.service.ts";

/**
 * Messages: the accept path (seq and rev in Redis, optimistic broadcast, group-committed
 * persistence), edits, deletes, reactions, stars, search and forwards, and the jobs of the
 * persist pool and the fanout pool's forwards. Built the same way in the API and every pool.
 */
export function messagesModule(
  p: Platform,
  deps: {
    members: MembershipCache;
    broadcaster: Broadcaster;
    /** Media views for messages that carry media. */
    views: MediaViews;
    /** Checks and links a message's media (the media feature); absent, media cannot be attached. */
    attachments: () => MediaAttachments;
    /** Pushes for what was stored (the notify feature's producer). */
    notify?: { messages(stored: MessageRecord[]): Promise<void> };
  },
) {
  const c = p.config;
  const backlog = { maxMessages: c.PENDING_MAX_MESSAGES, maxBytes: c.PENDING_MAX_BYTES };
  const pending = new PendingRepository(p.redis, p.keys, c.IDEMPOTENCY_TTL_S);
  // One gauge for messages and ops: it reads every bucket's counts, once per refresh.
  const gauge = new BacklogGauge(p.redis, p.keys, backlog);
  const counters = new RoomCounters(p.redis, p.keys, p.store);
  const reader = new MessageReader(p.store, pending, deps.views);
  const ops = new MessageOpsRepository(p.redis, p.keys, counters, gauge);
  const persist = new PersistJobs(p.jobs(persistQueue), {
    maxDelayMs: c.PERSIST_BATCH_MS,
    maxMessages: c.PERSIST_BATCH_MAX,
    minIntervalMs: c.PERSIST_JOB_INTERVAL_MS,
  });
  // What is still gathering goes out before the queues close.
  p.onClose(() => persist.drain());
  const events = new MessageBroadcasts(deps.broadcaster);
  const members = deps.members;
  const config = {
    maxTextChars: c.MESSAGE_MAX_CHARS,
    maxMentions: c.MESSAGE_MAX_MENTIONS,
    idempotencyWindowS: c.IDEMPOTENCY_TTL_S,
  };
  const media = deps.attachments;
  const messages = new MessagesService({
    store: p.store,
    members,
    accept: new AcceptRepository(p.redis, p.keys, gauge, c.IDEMPOTENCY_TTL_S),
    counters,
    reader,
    persist,
    events,
    config,
    limits: p.limits,
    // Late: media is built on this module's reader.
    media: { attachable: (...a) => media().attachable(...a), link: (...a) => media().link(...a) },
    // Taken when a message is first accepted: pools that never accept one (persist, media,
    // notify) open no WAIT connection.
    replication: {
      get enabled() {
        return p.replication.enabled;
      },
      accepted: (roomId) => p.replication.accepted(roomId),
      enqueued: () => p.replication.enqueued(),
    },
  });
  const messageOps = new MessageOpsService({
    store: p.store,
    members,
    reader,
    ops,
    persist,
    events,
    config: {
      editWindowS: c.EDIT_WINDOW_S,
      deleteWindowS: c.DELETE_WINDOW_S,
      maxTextChars: c.MESSAGE_MAX_CHARS,
    },
    limits: p.limits,
  });
  const search = new SearchService(p.store, members, reader);
  const stars = new StarsService(p.store, members, reader);
  const forward = new ForwardService({
    members,
    reader,
    jobs: new FanoutJobs(p.jobs(fanoutQueue)),
    limits: p.limits,
  });

  return {
    pending,
    counters,
    reader,
    events,
    messages,
    routes: () => [messagesRoutes(messages, messageOps, search, stars, forward)],
    socketHandlers: {
      "message:send": async (socket, payload) => {
        const { room_id, ...input } = parse(socketSendSchema, payload);
        const { message } = await messages.send(socket.data.user, room_id, input, "socket");
        return { message };
      },
    } satisfies Partial<SocketHandlers>,
    /** Announces a media's change to its uploader and the rooms that carry it (the media pool). */
    mediaUpdates: () => new MediaUpdates({ store: p.store, reader, ops, persist, views: deps.views, events }),
    /** The persist pool's jobs. */
    persistJobs() {
      const useCase = new PersistMessages({
        store: p.store,
        pending,
        ops,
        events,
        logger: p.logger,
        ...(deps.notify ? { notify: deps.notify } : {}),
      });
      return {
        "persist-batch": (batch: Parameters<PersistMessages["run"]>[0]) => useCase.run(batch),
        "pending-rescue": async () => {
          const stale = await pending.stale(c.PENDING_RESCUE_AFTER_S * 1000, c.PENDING_RESCUE_MAX);
          if (stale.messages.length + stale.ops.length === 0) return { rescued: 0 };
          p.logger.warn(
            { messages: stale.messages.length, ops: stale.ops.length },
            "persisting orphaned pending work",
          );
          return await useCase.run(stale);
        },
      };
    },
    /** The fanout pool's forwards: one normal message per target room. */
    fanoutJobs() {
      const useCase = new FanoutForward({ messages, reader, members, logger: p.logger });
      return { forward: (job: Parameters<FanoutForward["run"]>[0]) => useCase.run(job) };
    },
  };
}
export type MessagesModule = ReturnType<typeof messagesModule>;
