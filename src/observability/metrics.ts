import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** One registry per process; PM2 cluster instances are scraped one by one. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

export const httpDuration = new Histogram({
  name: "chat_http_request_duration_seconds",
  help: "REST request duration by route and status",
  labelNames: ["method", "route", "status"] as const,
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  registers: [registry],
});

export const messagesAccepted = new Counter({
  name: "chat_messages_accepted_total",
  help: "Messages accepted (new, not idempotent replays) by transport",
  labelNames: ["transport"] as const,
  registers: [registry],
});

export const messagesBroadcast = new Counter({
  name: "chat_messages_broadcast_total",
  help: "message:new broadcasts sent to a room (by the API, or by the fanout pool for copies)",
  registers: [registry],
});

export const persistBatchSize = new Histogram({
  name: "chat_persist_batch_size",
  help: "Messages per persist job (group commit)",
  buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
  registers: [registry],
});

export const messagesPersisted = new Counter({
  name: "chat_messages_persisted_total",
  help: "Messages written to the store by the persist pool",
  registers: [registry],
});

export const messagesRolledBack = new Counter({
  name: "chat_messages_rolled_back_total",
  help: "Accepted messages taken back after persistence failed for good",
  registers: [registry],
});

export const pushesSent = new Counter({
  name: "chat_pushes_sent_total",
  help: "Pushes the push provider took",
  registers: [registry],
});

/** Readers of queue depths by queue name, run at each scrape (a pool registers its queue). */
const queueReaders = new Map<string, () => Promise<Record<string, number>>>();

// Registered, and read, through the registry only.
new Gauge({
  name: "chat_queue_jobs",
  help: "Jobs in a queue by state, read from Redis at scrape time",
  labelNames: ["queue", "state"] as const,
  registers: [registry],
  async collect() {
    for (const [queue, read] of queueReaders) {
      const counts = await read().catch(() => null);
      for (const [state, n] of Object.entries(counts ?? {})) this.set({ queue, state }, n);
    }
  },
});

/** Reports this queue's job counts by state at every scrape. */
export function watchQueue(name: string, read: () => Promise<Record<string, number>>): void {
  queueReaders.set(name, read);
}

export const jobDuration = new Histogram({
  name: "chat_job_duration_seconds",
  help: "Job processing time by queue, job name and outcome",
  labelNames: ["queue", "job", "outcome"] as const,
  buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
  registers: [registry],
});

export const jobFailures = new Counter({
  name: "chat_job_failures_total",
  help: "Failed job attempts by queue and job name (each will be retried unless the payload was invalid)",
  labelNames: ["queue", "job"] as const,
  registers: [registry],
});

type Backlog = { messages: number; ops: number; bytes: number; oldestAgeMs: number };
type BacklogSource = { backlog(): Promise<Backlog> };
let backlogSource: BacklogSource | undefined;

/** Where the pending-backlog gauges read from (the API's PendingRepository). */
export function watchBacklog(source: BacklogSource): void {
  backlogSource = source;
}

/**
 * What waits for the persist pool, read from Redis at scrape time: a stuck persist queue shows
 * as growing counts and an oldest age far above the group-commit window.
 */
function backlogGauge(name: string, help: string, pick: (b: Backlog) => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    async collect() {
      const b = await backlogSource?.backlog().catch(() => undefined);
      if (b) this.set(pick(b));
    },
  });
}
backlogGauge("chat_pending_messages", "Accepted messages not yet persisted", (b) => b.messages);
backlogGauge("chat_pending_ops", "Accepted message ops not yet persisted", (b) => b.ops);
backlogGauge(
  "chat_pending_bytes",
  "Bytes of accepted messages not yet persisted (back-pressure bound: PENDING_MAX_BYTES)",
  (b) => b.bytes,
);
backlogGauge(
  "chat_pending_oldest_age_seconds",
  "Age of the oldest accepted-but-unpersisted message or op",
  (b) => b.oldestAgeMs / 1000,
);
