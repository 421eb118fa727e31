import { Counter, collectDefaultMetrics, Histogram, Registry } from "prom-client";

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
