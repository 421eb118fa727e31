import type { MessageReader } from "../messages/message.reader.ts";
import type { Logger } from "../observability/logger.ts";
import { pushesSent } from "../observability/metrics.ts";
import { onlineUsers } from "../presence/online.ts";
import type { Keys, RedisClient } from "../redis/redis.ts";
import type {
  DeviceRecord,
  DevicesStore,
  MembersStore,
  MessageRecord,
  MessagesStore,
} from "../store/store.ts";
import type { Push, PushProvider } from "./providers/push-provider.ts";

const SENT_TTL_S = 7 * 86_400;
/** Longer than a provider's send takes; a claim left by a killed job lapses after it. */
const CLAIM_TTL_S = 60;
const CLAIMED = "claimed";
const SENT = "1";
const PREVIEW_CHARS = 120;

const preview = (m: MessageRecord): string => {
  if (m.type === "text") {
    const chars = [...(m.text ?? "")];
    return chars.length > PREVIEW_CHARS ? `${chars.slice(0, PREVIEW_CHARS).join("")}…` : chars.join("");
  }
  const label = { image: "📷 Photo", video: "🎥 Video", audio: "🎤 Audio", file: "📄 File", system: "" }[
    m.type
  ];
  return m.text ? `${label}: ${m.text}` : label;
};

/**
 * The notify pool's work. A stored batch of messages becomes, per room and recipient, one push
 * with the newest message and how many arrived (a burst collapses; the collapse key replaces
 * older ones on the device). Recipients are the room's members but the sender, with no live
 * socket, not muting the room (a mention overrides mute). Each (message, device) is pushed
 * once: a mark is set per device when the provider took it, so a retried job skips it. A token
 * the provider reports dead is removed; anything transient fails the job for a retry.
 */
export class NotifyUseCase {
  readonly #store: Pick<MembersStore, "getMembers"> &
    Pick<DevicesStore, "devicesOf" | "dropPushToken"> &
    Pick<MessagesStore, "getMessages">;
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  readonly #provider: PushProvider;
  readonly #logger: Logger;
  readonly #reader: Pick<MessageReader, "views">;

  constructor(deps: {
    store: Pick<MembersStore, "getMembers"> &
      Pick<DevicesStore, "devicesOf" | "dropPushToken"> &
      Pick<MessagesStore, "getMessages">;
    redis: RedisClient;
    keys: Keys;
    provider: PushProvider;
    logger: Logger;
    /** The messages as they are now: a delete or an edit since the send changes the push. */
    reader: Pick<MessageReader, "views">;
  }) {
    this.#store = deps.store;
    this.#redis = deps.redis;
    this.#keys = deps.keys;
    this.#provider = deps.provider;
    this.#logger = deps.logger;
    this.#reader = deps.reader;
  }

  /** Pushes for stored messages, read by id now (the job carries no content). */
  async messageIds(ids: string[]): Promise<{ pushes: number }> {
    const stored = (await this.#store.getMessages(ids)).filter((m) => m.type !== "system");
    return this.messages(stored);
  }

  async messages(stored: MessageRecord[]): Promise<{ pushes: number }> {
    const now = Date.now();
    // As they are now: deleted since (for everyone) means no push; an edit shows its new text.
    const current = new Map((await this.#reader.views(stored, "")).map((v) => [v.id, v]));
    const messages = stored.flatMap((m) => {
      const view = current.get(m.id);
      return view && !view.deleted ? [{ ...m, text: view.text }] : [];
    });
    /** (room, user) → the newest message for them, how many, and whether any mentions them. */
    const due = new Map<string, { user: string; latest: MessageRecord; count: number; mention: boolean }>();
    for (const [roomId, inRoom] of Map.groupBy(messages, (m) => m.room_id)) {
      const members = await this.#store.getMembers(roomId);
      const candidates = members.filter((mb) => inRoom.some((m) => m.sender_id !== mb.user_id));
      const online = await onlineUsers(
        this.#redis,
        this.#keys,
        candidates.map((mb) => mb.user_id),
      );
      for (const member of candidates) {
        if (online.has(member.user_id)) continue; // their sockets got it
        const muted = member.muted_until !== null && Date.parse(member.muted_until) > now;
        for (const m of inRoom) {
          if (m.sender_id === member.user_id) continue;
          const mention = m.mentions.includes(member.user_id);
          if (muted && !mention) continue;
          const key = `${roomId}|${member.user_id}`;
          const entry = due.get(key);
          if (!entry) due.set(key, { user: member.user_id, latest: m, count: 1, mention });
          else {
            entry.count++;
            entry.mention ||= mention;
            if (m.seq > entry.latest.seq) entry.latest = m;
          }
        }
      }
    }
    if (due.size === 0) return { pushes: 0 };
    const devices = Map.groupBy(
      (await this.#store.devicesOf([...new Set([...due.values()].map((d) => d.user))])).filter(
        (d) => d.push_token,
      ),
      (d) => d.user_id,
    );
    const pushes: Push[] = [];
    for (const d of due.values()) {
      for (const device of devices.get(d.user) ?? []) {
        pushes.push({
          token: device.push_token ?? "",
          user_id: d.user,
          device_id: device.device_id,
          notification: { title: d.mention ? "You were mentioned" : "New message", body: preview(d.latest) },
          data: {
            type: d.mention ? "mention" : "message",
            room_id: d.latest.room_id,
            message_id: d.latest.id,
            seq: String(d.latest.seq),
            count: String(d.count),
          },
          collapse_key: d.latest.room_id,
        });
      }
    }
    return { pushes: await this.#deliver(pushes, (p) => p.data.message_id ?? "") };
  }

  /** After a read on one device: a silent push that clears the room's notifications on the others. */
  async clearRoom(userId: string, roomId: string, readSeq: number): Promise<{ pushes: number }> {
    const devices = (await this.#store.devicesOf([userId])).filter((d: DeviceRecord) => d.push_token);
    const pushes: Push[] = devices.map((device) => ({
      token: device.push_token ?? "",
      user_id: userId,
      device_id: device.device_id,
      notification: null,
      data: { type: "clear", room_id: roomId, read_seq: String(readSeq) },
      collapse_key: roomId,
    }));
    return { pushes: await this.#deliver(pushes, () => null) };
  }

  /**
   * Sends what was not sent yet, at most once per (message, device) but across a kill: each
   * push is claimed before it goes (SET NX, a short claim), so two jobs carrying one message
   * (a rescued batch beside its own) never both send it; the claim becomes the sent mark once the
   * provider took the push, and is released when it must be retried. A push claimed by another
   * job, or by a job that died, fails this job for a later retry, by when the claim is either a
   * mark or gone. Drops dead tokens; throws when some must be retried.
   */
  async #deliver(all: Push[], markOf: (p: Push) => string | null): Promise<number> {
    const keys = all.map((p) => {
      const message = markOf(p);
      return message ? this.#keys.pushSent(message, p.user_id, p.device_id) : null;
    });
    // One command per key (each in its own slot under Redis Cluster), pipelined.
    const claims = await Promise.all(
      keys.map((k) => (k ? this.#redis.set(k, CLAIMED, "EX", CLAIM_TTL_S, "NX") : "OK")),
    );
    const taken = await Promise.all(
      claims.map((c, i) => {
        const k = keys[i];
        return c === "OK" || !k ? null : this.#redis.get(k);
      }),
    );
    // Claimed elsewhere and not sent yet: that job sends it, or its claim lapses; retry then.
    let retry = taken.filter((t) => t === CLAIMED).length;
    const mine = all.flatMap((p, i) => (claims[i] === "OK" ? [{ p, key: keys[i] ?? null }] : []));
    let sent = 0;
    if (mine.length > 0) {
      const outcomes = await this.#provider.send(mine.map((m) => m.p));
      const settle: Promise<unknown>[] = [];
      for (const [i, { p, key }] of mine.entries()) {
        const outcome = outcomes[i];
        if (outcome === "sent") {
          sent++;
          if (key) settle.push(this.#redis.set(key, SENT, "EX", SENT_TTL_S));
          continue;
        }
        if (key) settle.push(this.#redis.del(key));
        if (outcome === "dead") {
          await this.#store.dropPushToken(p.token);
          this.#logger.info({ user_id: p.user_id, device_id: p.device_id }, "push token dead; removed");
        } else retry++;
      }
      await Promise.all(settle);
    }
    pushesSent.inc(sent);
    if (retry > 0) throw new Error(`${retry} of ${all.length} pushes must be retried`);
    return sent;
  }
}
