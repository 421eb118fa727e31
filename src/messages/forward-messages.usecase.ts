import { AppError } from "../errors.ts";
import type { Logger } from "../observability/logger.ts";
import { type ForwardJob, forwardClientId } from "./forward.queue.ts";
import type { MessagesService } from "./messages.service.ts";

/**
 * The fanout pool's forward: one copy per target room. A target the forwarder can no longer
 * send to (left it, blocked since) is skipped; anything transient throws and the job is
 * retried, and the copies already made come back as they were (their client_ids).
 */
export class ForwardMessages {
  readonly #messages: Pick<MessagesService, "forwardCopy">;
  readonly #logger: Logger;

  constructor(messages: Pick<MessagesService, "forwardCopy">, logger: Logger) {
    this.#messages = messages;
    this.#logger = logger;
  }

  async run(job: ForwardJob): Promise<{ copies: number; skipped: number }> {
    const user = { id: job.user_id, name: undefined, admin: false, expiresAt: Number.MAX_SAFE_INTEGER };
    let copies = 0;
    let skipped = 0;
    for (const [i, roomId] of job.room_ids.entries()) {
      try {
        await this.#messages.forwardCopy(user, roomId, {
          ...job.copy,
          client_id: forwardClientId(job.forward_id, i),
        });
        copies++;
      } catch (err) {
        if (!(err instanceof AppError) || !["not_found", "forbidden", "invalid_request"].includes(err.code))
          throw err;
        skipped++;
        this.#logger.info(
          { forward_id: job.forward_id, room_id: roomId, reason: err.code },
          "forward target skipped",
        );
      }
    }
    return { copies, skipped };
  }
}
