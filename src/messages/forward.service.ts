import type { AuthUser } from "../auth/jwt.ts";
import type { MessageView } from "../contract/views.ts";
import type { FanoutJobs } from "../fanout/fanout.queue.ts";
import { AppError, notFound } from "../kernel/errors.ts";
import { newId } from "../kernel/ids.ts";
import type { MembershipCache } from "../membership/membership.cache.ts";
import type { RateLimits } from "../rate-limits/rate-limits.ts";
import type { MessageRecord } from "../store/store.ts";
import type { MessageReader } from "./message.reader.ts";

/** A message forwarded this many hops from its original is "forwarded many times". */
export const MANY_TIMES = 5;
const MAX_TARGETS = 5;

/**
 * The source of a forward as `userId` can see it now, or why it cannot be forwarded: not
 * visible (404), a tombstone (403), a system message or one whose media was deleted (400). The
 * API answers with it; the fanout pool, checking again when it makes the copies, drops the
 * forward for it.
 */
export async function forwardSource(
  reader: MessageReader,
  isMember: (roomId: string, userId: string) => Promise<boolean>,
  userId: string,
  messageId: string,
): Promise<{ record: MessageRecord; view: MessageView }> {
  const found = await reader.visible(messageId, userId, isMember);
  if (!found) throw notFound("message");
  const { record, view } = found;
  if (view.deleted) throw new AppError("forbidden", "the message was deleted");
  if (record.type === "system") throw new AppError("invalid_request", "system messages cannot be forwarded");
  if (record.media_id && !view.media)
    throw new AppError("invalid_request", "the message's media was deleted");
  return found;
}

/**
 * Forwarding (API.md 30): the checks here (the source is visible to the caller and not a
 * tombstone or a system message; every target is one of the caller's rooms; at most 5 targets,
 * 1 once the source was forwarded many times), the copies in the fanout pool.
 */
export class ForwardService {
  readonly #members: MembershipCache;
  readonly #reader: MessageReader;
  readonly #jobs: FanoutJobs;
  readonly #limits: Pick<RateLimits, "consume"> | undefined;

  constructor(deps: {
    members: MembershipCache;
    reader: MessageReader;
    jobs: FanoutJobs;
    limits?: Pick<RateLimits, "consume">;
  }) {
    this.#members = deps.members;
    this.#reader = deps.reader;
    this.#jobs = deps.jobs;
    this.#limits = deps.limits;
  }

  async forward(
    user: AuthUser,
    messageId: string,
    roomIds: string[],
  ): Promise<{ forward_id: string; room_ids: string[] }> {
    const { record } = await forwardSource(
      this.#reader,
      (r, u) => this.#members.isMember(r, u),
      user.id,
      messageId,
    );
    const targets = [...new Set(roomIds)];
    const manyTimes = record.forwarded?.many_times ?? false;
    const max = manyTimes ? 1 : MAX_TARGETS;
    if (targets.length > max) {
      throw new AppError(
        "invalid_request",
        manyTimes
          ? "a message forwarded many times may be forwarded to one chat at a time"
          : `a message may be forwarded to at most ${MAX_TARGETS} chats at a time`,
        { max_rooms: max },
      );
    }
    for (const roomId of targets) {
      if (!(await this.#members.isMember(roomId, user.id))) throw notFound("room");
    }
    for (const _ of targets) await this.#limits?.consume("send", user.id);
    const forwardId = newId();
    await this.#jobs.forward({
      forward_id: forwardId,
      user_id: user.id,
      message_id: record.id,
      room_ids: targets,
    });
    return { forward_id: forwardId, room_ids: targets };
  }
}
