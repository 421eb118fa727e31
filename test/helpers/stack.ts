import { Redis } from "ioredis";
import type { AuthUser } from "../../src/auth/jwt.ts";
import type { MediaViews } from "../../src/media/media.views.ts";
import { MembershipCache } from "../../src/membership/membership.cache.ts";
import { AcceptRepository } from "../../src/messages/accept.repository.ts";
import { BacklogGauge } from "../../src/messages/backlog.gauge.ts";
import { MessageReader } from "../../src/messages/message.reader.ts";
import {
  type MessageOpsConfig,
  MessageOpsService,
  type MessageUpdateEvents,
} from "../../src/messages/message-ops.service.ts";
import {
  type MediaAttachments,
  type MessageEvents,
  MessagesService,
} from "../../src/messages/messages.service.ts";
import { MessageOpsRepository } from "../../src/messages/ops.repository.ts";
import { PendingRepository } from "../../src/messages/pending.repository.ts";
import { type FailureEvents, PersistMessages } from "../../src/messages/persist-messages.usecase.ts";
import { RoomCounters } from "../../src/messages/room-counters.repository.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { Keys } from "../../src/redis/redis.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import type { Store } from "../../src/store/store.ts";
import { dropPrefix, REDIS_URL, uniquePrefix } from "./env.ts";
import { persistJobs } from "./producers.ts";

const BACKLOG = { maxMessages: 1_000_000, maxBytes: 1 << 30 };

export const user = (id: string): AuthUser => ({
  id,
  name: undefined,
  admin: false,
  expiresAt: Date.now() + 3_600_000,
});

/**
 * The message path in this process, as the API and the persist pool wire it, on real Redis
 * (a prefix of its own) and an in-memory SQLite store: for integration tests that drive the
 * services directly and run the pool's work when they choose.
 */
export function messageStack(
  name: string,
  opts: {
    /** The store the services see (a proxy that injects interleavings, say); the raw one stays `sqlite`. */
    store?: (sqlite: Store) => Store;
    counters?: (redis: Redis, keys: Keys, store: Store) => RoomCounters;
    media?: MediaViews;
  } = {},
) {
  const prefix = uniquePrefix(name);
  const keys = new Keys(prefix);
  const redis = new Redis(REDIS_URL);
  const queueConn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const sqlite = openSqliteStore(":memory:");
  const store: Store = opts.store?.(sqlite) ?? sqlite;
  const pending = new PendingRepository(redis, keys, 3600);
  const counters = opts.counters?.(redis, keys, store) ?? new RoomCounters(redis, keys, store);
  const opsRepo = new MessageOpsRepository(redis, keys, counters, new BacklogGauge(redis, keys, BACKLOG));
  const reader = new MessageReader(store, pending, opts.media);
  const members = new MembershipCache(redis, keys, store, 3600);
  const producer = persistJobs(queueConn, keys, {
    maxDelayMs: 1,
    maxMessages: 500,
    minIntervalMs: 0,
  });
  return {
    prefix,
    keys,
    redis,
    queueConn,
    sqlite,
    store,
    pending,
    counters,
    opsRepo,
    reader,
    members,
    producer,
    /** What the persist pool runs on a batch. */
    persister: (events: FailureEvents = { messageFailed: () => {} }) =>
      new PersistMessages({ store, pending, ops: opsRepo, events, logger: createLogger("silent", "test") }),
    messages: (over: { events?: MessageEvents; media?: MediaAttachments } = {}) =>
      new MessagesService({
        store,
        members,
        accept: new AcceptRepository(redis, keys, new BacklogGauge(redis, keys, BACKLOG), 3600),
        counters,
        reader,
        persist: producer,
        events: over.events ?? { messageNew: () => {} },
        config: { maxTextChars: 100, maxMentions: 50, idempotencyWindowS: 3600 },
        ...(over.media ? { media: over.media } : {}),
      }),
    ops: (
      over: { events?: MessageUpdateEvents; config?: Partial<MessageOpsConfig>; now?: () => number } = {},
    ) =>
      new MessageOpsService({
        store,
        members,
        reader,
        ops: opsRepo,
        persist: producer,
        events: over.events ?? { messageUpdated: () => {}, messageUpdatedFor: () => {} },
        config: { editWindowS: 900, deleteWindowS: 172_800, maxTextChars: 100, ...over.config },
        ...(over.now ? { now: over.now } : {}),
      }),
    async close(): Promise<void> {
      await producer.close();
      await dropPrefix(prefix);
      redis.disconnect();
      queueConn.disconnect();
      await sqlite.close();
    },
  };
}
