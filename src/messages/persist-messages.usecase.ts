import type { Logger } from "../observability/logger.ts";
import { messagesPersisted, messagesRolledBack } from "../observability/metrics.ts";
import type { MessageOp, MessageRecord, MessageStateStore, MessagesStore } from "../store/store.ts";
import type { MessageOpsRepository } from "./ops.repository.ts";
import type { PendingRepository } from "./pending.repository.ts";
import type { PersistBatch } from "./persist.queue.ts";

/** Tells clients to drop an optimistic copy; workers implement it with the Socket.IO emitter. */
export interface FailureEvents {
  messageFailed(message: MessageRecord, reason: string): void;
}

/**
 * Writes a batch of accepted messages and ops. Each message is written on its own (the store
 * port is atomic per message): one the store refuses for good is rolled back alone, the rest
 * are kept. Transient errors propagate, and the pool retries the (idempotent) batch for as
 * long as it takes: an outage delays persistence, never rolls anything back (invariant 1).
 */
export class PersistMessages {
  readonly #store: MessagesStore & MessageStateStore;
  readonly #pending: PendingRepository;
  readonly #ops: MessageOpsRepository;
  readonly #events: FailureEvents;
  readonly #logger: Logger;
  readonly #notify: { messages(messages: MessageRecord[]): Promise<void> } | undefined;

  constructor(deps: {
    store: MessagesStore & MessageStateStore;
    pending: PendingRepository;
    ops: MessageOpsRepository;
    events: FailureEvents;
    logger: Logger;
    /** Pushes for what was stored (the notify pool). */
    notify?: { messages(messages: MessageRecord[]): Promise<void> };
  }) {
    this.#store = deps.store;
    this.#pending = deps.pending;
    this.#ops = deps.ops;
    this.#events = deps.events;
    this.#logger = deps.logger;
    this.#notify = deps.notify;
  }

  async run(batch: PersistBatch): Promise<{ persisted: number; rejected: number; ops: number }> {
    const { rejected } = await this.#store.insertMessages(batch.messages);
    await this.#store.applyMessageOps(batch.ops);
    const refused = new Set(rejected.map((r) => r.message.id));
    const persisted = batch.messages.filter((m) => !refused.has(m.id));
    // Before the clear: a failure here retries the whole (idempotent) batch, so no push is lost.
    if (persisted.length > 0) await this.#notify?.messages(persisted);
    await this.#pending.clear(persisted, batch.ops);
    messagesPersisted.inc(persisted.length);
    for (const r of rejected) {
      this.#logger.warn(
        { message_id: r.message.id, room_id: r.message.room_id, reason: r.reason },
        "store refused a message",
      );
    }
    await this.#rollback(
      rejected.map((r) => r.message),
      "rejected_by_store",
    );
    return { persisted: persisted.length, rejected: rejected.length, ops: batch.ops.length };
  }

  /**
   * The store refused these for good: each becomes a tombstone with its own room revision (a
   * device that synced the pending copy learns it was dropped), leaves pending, frees its
   * client_id, and the room hears `message:failed`. The tombstone is accepted like any op (its
   * revision and its pending entry in one script, so sync never passes it), then stored with
   * the record beside it (the store never took the message itself), then leaves pending.
   */
  async #rollback(messages: MessageRecord[], reason: string): Promise<void> {
    if (messages.length === 0) return;
    const at = new Date().toISOString();
    const tombstones: MessageOp[] = [];
    const rolledBack: { message: MessageRecord; rev: number; at: string }[] = [];
    for (const m of messages) {
      // Past the backlog bound too: an accept either takes a revision or throws (the job retries).
      const result = await this.#ops.accept(
        { kind: "delete", message_id: m.id, room_id: m.room_id, at },
        true,
      );
      if (result.kind !== "accepted") throw new Error(`rollback tombstone not accepted: ${result.kind}`);
      tombstones.push(result.op);
      rolledBack.push({ message: m, rev: result.op.rev, at });
    }
    await this.#store.recordRollbacks(rolledBack);
    await this.#store.applyMessageOps(tombstones);
    await this.#pending.rollback(messages);
    await this.#pending.clear([], tombstones);
    for (const m of messages) this.#events.messageFailed(m, reason);
    messagesRolledBack.inc(messages.length);
    this.#logger.error({ count: messages.length, reason }, "messages rolled back");
  }
}
