import type { Logger } from "../observability/logger.ts";
import { messagesPersisted, messagesRolledBack } from "../observability/metrics.ts";
import { type MessageRecord, type Store, StoreRejectedError } from "../store/store.ts";
import type { PendingRepository } from "./pending.repository.ts";

/** Tells clients to drop an optimistic copy; workers implement it with the Socket.IO emitter. */
export interface FailureEvents {
  messageFailed(message: MessageRecord, reason: string): void;
}

/**
 * Writes a batch of accepted messages. The batch is one store transaction; if the store
 * rejects it, messages are retried one by one so only the ones it refuses for good are
 * rolled back. Transient errors propagate so BullMQ retries the whole (idempotent) batch.
 */
export class PersistMessages {
  readonly #store: Store;
  readonly #pending: PendingRepository;
  readonly #events: FailureEvents;
  readonly #logger: Logger;

  constructor(store: Store, pending: PendingRepository, events: FailureEvents, logger: Logger) {
    this.#store = store;
    this.#pending = pending;
    this.#events = events;
    this.#logger = logger;
  }

  async run(messages: MessageRecord[]): Promise<{ persisted: number; rejected: number }> {
    const rejected: MessageRecord[] = [];
    try {
      await this.#store.insertMessages(messages);
    } catch (err) {
      if (!(err instanceof StoreRejectedError)) throw err;
      for (const m of messages) {
        try {
          await this.#store.insertMessages([m]);
        } catch (inner) {
          if (!(inner instanceof StoreRejectedError)) throw inner;
          rejected.push(m);
          this.#logger.warn({ message_id: m.id, err: inner.message }, "store rejected message");
        }
      }
    }
    const persisted = messages.filter((m) => !rejected.includes(m));
    await this.#pending.clear(persisted);
    messagesPersisted.inc(persisted.length);
    await this.rollback(rejected, "rejected_by_store");
    return { persisted: persisted.length, rejected: rejected.length };
  }

  /**
   * Persistence failed for good: take the messages back (pending, idempotency key) and tell
   * the room. A message another job already stored is kept; it only leaves pending. If the
   * store cannot even be asked, this throws and the messages stay pending for the rescue sweep:
   * an acknowledged message is never taken back on a guess.
   */
  async rollback(messages: MessageRecord[], reason: string): Promise<void> {
    if (messages.length === 0) return;
    const stored = new Set<string>();
    for (const m of messages) if (await this.#store.getMessage(m.id)) stored.add(m.id);
    const doomed = messages.filter((m) => !stored.has(m.id));
    await this.#pending.clear(messages.filter((m) => stored.has(m.id)));
    await this.#pending.rollback(doomed);
    for (const m of doomed) this.#events.messageFailed(m, reason);
    messagesRolledBack.inc(doomed.length);
    if (doomed.length > 0) this.#logger.error({ count: doomed.length, reason }, "messages rolled back");
  }
}
