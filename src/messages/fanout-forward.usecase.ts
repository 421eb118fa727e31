import type { AuthUser } from "../auth/jwt.ts";
import { type ForwardJob, forwardClientId } from "../fanout/fanout.queue.ts";
import { AppError } from "../kernel/errors.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { Logger } from "../observability/logger.ts";
import { forwardSource, MANY_TIMES } from "./forward.service.ts";
import type { MessageReader } from "./message.reader.ts";
import type { MessagesService } from "./messages.service.ts";

/** Refusals that mean "no copy here", not "try again": the target or the source went away. */
const SKIP = new Set(["not_found", "forbidden", "invalid_request", "conflict"]);

/**
 * The fanout pool's forward: one copy per target room, made from the source as the forwarder
 * can see it now (an edit since counts; a delete, a hide or a room left since means no copy).
 * A target the forwarder can no longer send to (left it, blocked since) is skipped; anything
 * transient throws and the job is retried, and the copies already made come back as they were
 * (their client_ids).
 */
export class FanoutForward {
  readonly #messages: Pick<MessagesService, "forwardCopy">;
  readonly #reader: MessageReader;
  readonly #members: Pick<MembershipCache, "isMember">;
  readonly #logger: Logger;

  constructor(deps: {
    messages: Pick<MessagesService, "forwardCopy">;
    reader: MessageReader;
    members: Pick<MembershipCache, "isMember">;
    logger: Logger;
  }) {
    this.#messages = deps.messages;
    this.#reader = deps.reader;
    this.#members = deps.members;
    this.#logger = deps.logger;
  }

  async run(job: ForwardJob): Promise<{ copies: number; skipped: number }> {
    const user: AuthUser = {
      id: job.user_id,
      name: undefined,
      admin: false,
      expiresAt: Number.MAX_SAFE_INTEGER,
    };
    let source: Awaited<ReturnType<typeof forwardSource>>;
    try {
      source = await forwardSource(
        this.#reader,
        (r, u) => this.#members.isMember(r, u),
        user.id,
        job.message_id,
      );
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      this.#logger.info(
        { forward_id: job.forward_id, reason: err.code },
        "forward dropped: the source is gone for the forwarder",
      );
      return { copies: 0, skipped: job.room_ids.length };
    }
    const { record, view } = source;
    const hops = (record.forwarded?.forward_count ?? 0) + 1;
    const copy = {
      type: record.type,
      text: view.text,
      media_id: record.media_id,
      forwarded: {
        original_message_id: record.forwarded?.original_message_id ?? record.id,
        original_sender_id: record.forwarded?.original_sender_id ?? record.sender_id,
        forward_count: hops,
        many_times: hops >= MANY_TIMES,
      },
    };
    let copies = 0;
    let skipped = 0;
    for (const [i, roomId] of job.room_ids.entries()) {
      try {
        await this.#messages.forwardCopy(user, roomId, {
          ...copy,
          client_id: forwardClientId(job.forward_id, i),
        });
        copies++;
      } catch (err) {
        if (!(err instanceof AppError) || !SKIP.has(err.code)) throw err;
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
