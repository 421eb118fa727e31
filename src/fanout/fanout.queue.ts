import { z } from "zod";
import { idSchema, userIdSchema } from "../kernel/ids.ts";
import { type JobProducer, type QueueDefinition, RETRIED_FOR_EVER } from "../queues/queue.ts";

/**
 * What is forwarded, by whom, to where. The copies take the source as it is when they are made
 * (an edit or a delete in between counts), so the job carries no content.
 */
const forwardJobSchema = z.strictObject({
  forward_id: idSchema,
  user_id: userIdSchema,
  message_id: idSchema,
  room_ids: z.array(idSchema).min(1).max(5),
});
export type ForwardJob = z.infer<typeof forwardJobSchema>;

/**
 * The fanout queue, worked by the `fanout` pool: work that spreads over many rooms or members.
 * A forward makes one copy per target room, each a normal message (seq, broadcast,
 * persistence); retries are safe, each copy's client_id comes from the forward id and the
 * target's position. A membership invalidation backs up every membership change
 * (membership-change.ts).
 */
export const fanoutQueue = {
  name: "fanout",
  jobs: {
    forward: forwardJobSchema,
    "membership-invalidate": z.strictObject({ room_id: idSchema }),
  },
  jobOptions: RETRIED_FOR_EVER,
} satisfies QueueDefinition<Record<string, z.ZodType>>;

/** What the API asks of the fanout pool; job ids make a repeated forward one job. */
export class FanoutJobs {
  readonly #jobs: JobProducer<typeof fanoutQueue.jobs>;
  constructor(jobs: JobProducer<typeof fanoutQueue.jobs>) {
    this.#jobs = jobs;
  }

  forward(job: ForwardJob): Promise<void> {
    return this.#jobs.add("forward", job, `forward-${job.forward_id}`);
  }

  /** Invalidates the room's cached member set after `delayMs`, whatever happens to this process. */
  invalidateMembership(roomId: string, delayMs: number): Promise<void> {
    return this.#jobs.add("membership-invalidate", { room_id: roomId }, undefined, { delay: delayMs });
  }
}

/** The client_id of a forward's copy in its i-th target room. */
export const forwardClientId = (forwardId: string, index: number) => `fwd-${forwardId}-${index}`;
