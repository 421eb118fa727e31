import { z } from "zod";
import { idSchema, userIdSchema } from "../kernel/ids.ts";
import { JobProducer, type QueueDefinition, RETRIED_FOR_EVER } from "../queues/queue.ts";
import type { Keys, RedisClient } from "../redis/redis.ts";

/**
 * What is forwarded, by whom, to where. The copies take the source as it is when they are made
 * (an edit or a delete in between counts), so the job carries no content.
 */
export const forwardJobSchema = z.strictObject({
  forward_id: idSchema,
  user_id: userIdSchema,
  message_id: idSchema,
  room_ids: z.array(idSchema).min(1).max(5),
});
export type ForwardJob = z.infer<typeof forwardJobSchema>;

/**
 * The fanout queue, worked by the `fanout` pool: a forward makes one copy per target room, each
 * a normal message (seq, broadcast, persistence). Retries are safe: each copy's client_id comes
 * from the forward id and the target's position.
 */
export const fanoutQueue = {
  name: "fanout",
  jobs: { forward: forwardJobSchema },
  jobOptions: RETRIED_FOR_EVER,
} satisfies QueueDefinition<Record<string, z.ZodType>>;

export class FanoutJobs extends JobProducer<typeof fanoutQueue.jobs> {
  constructor(connection: RedisClient, keys: Keys) {
    super(fanoutQueue, connection, keys);
  }

  forward(job: ForwardJob): Promise<void> {
    return this.add("forward", job, `forward-${job.forward_id}`);
  }
}

/** The client_id of a forward's copy in its i-th target room. */
export const forwardClientId = (forwardId: string, index: number) => `fwd-${forwardId}-${index}`;
