import { createHash } from "node:crypto";
import { z } from "zod";
import { idSchema, userIdSchema } from "../kernel/ids.ts";
import { type JobProducer, type QueueDefinition, RETRIED_FOR_EVER } from "../queues/queue.ts";
import type { MessageRecord } from "../store/store.ts";

/**
 * The notify queue, worked by the `notify` pool: pushes for messages once they are stored (to
 * members with no live socket, honouring mute unless mentioned), and a silent push that clears
 * a room's notifications on a user's devices once they read it.
 */
export const notifyQueue = {
  name: "notify",
  jobs: {
    // Ids only: the pool reads the messages as they are when it pushes, and job data (kept a week
    // when a job fails, shown in Bull Board) never holds message text.
    "notify-messages": z.strictObject({ message_ids: z.array(idSchema).min(1).max(10_000) }),
    "clear-room": z.strictObject({
      user_id: userIdSchema,
      room_id: idSchema,
      read_seq: z.number().int().min(0),
    }),
  },
  jobOptions: RETRIED_FOR_EVER,
} satisfies QueueDefinition<Record<string, z.ZodType>>;

export class NotifyJobs {
  readonly #jobs: JobProducer<typeof notifyQueue.jobs>;
  constructor(jobs: JobProducer<typeof notifyQueue.jobs>) {
    this.#jobs = jobs;
  }

  /** One job per stored batch; the id follows the messages, so a retried persist job adds it once. */
  async messages(messages: MessageRecord[]): Promise<void> {
    const wanted = messages.filter((m) => m.type !== "system");
    if (wanted.length === 0) return;
    const ids = wanted.map((m) => m.id).sort();
    const digest = createHash("sha256").update(ids.join(",")).digest("base64url").slice(0, 22);
    await this.#jobs.add("notify-messages", { message_ids: ids }, `notify-${digest}`);
  }

  clearRoom(userId: string, roomId: string, readSeq: number): Promise<void> {
    return this.#jobs.add("clear-room", { user_id: userId, room_id: roomId, read_seq: readSeq });
  }
}
