import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MessageReader } from "../../src/messages/message.reader.ts";
import { PendingRepository } from "../../src/messages/pending.repository.ts";
import { NotifyUseCase } from "../../src/notify/notify.usecase.ts";
import { LogPushProvider } from "../../src/notify/providers/log.provider.ts";
import type { Push, PushOutcome, PushProvider } from "../../src/notify/providers/push-provider.ts";
import { createLogger, type Logger } from "../../src/observability/logger.ts";
import { Keys, presenceBucket } from "../../src/redis/redis.ts";
import { openSqliteStore } from "../../src/store/sqlite/sqlite.store.ts";
import { msg, room as newRoom } from "../contract/fixtures.ts";
import { dropPrefix, REDIS_URL, uniquePrefix } from "../helpers/env.ts";

const prefix = uniquePrefix("notify");
const keys = new Keys(prefix);
const redis = new Redis(REDIS_URL);
const store = openSqliteStore(":memory:");
const pending = new PendingRepository(redis, keys, 3600);

/** Records every push; an outcome per token can be set (default "sent"). */
class FakeProvider implements PushProvider {
  readonly pushes: Push[] = [];
  readonly outcomes = new Map<string, PushOutcome>();
  async send(pushes: Push[]): Promise<PushOutcome[]> {
    this.pushes.push(...pushes);
    return pushes.map((p) => this.outcomes.get(p.token) ?? "sent");
  }
  async close(): Promise<void> {}
}

let roomId = "";
beforeAll(async () => {
  const now = new Date().toISOString();
  const r = await store.createGroupRoom(newRoom({ created_by: "a", created_at: now, updated_at: now }), [
    ...["a", "b", "c", "d", "e"].map((u) => ({ user_id: u, role: "member" as const, joined_at: now })),
  ]);
  roomId = r.id;
  const mute = new Date(Date.now() + 3_600_000).toISOString();
  for (const u of ["d", "e"]) await store.updateSettings(roomId, u, { muted_until: mute, rev: 1 });
  const device = (user: string, id: string, token: string) =>
    store.upsertDevice({ user_id: user, device_id: id, platform: "android", push_token: token, at: now }, 10);
  await device("a", "a1", "ta");
  await device("b", "b1", "tb1");
  await device("b", "b2", "tb2");
  await device("c", "c1", "tc");
  await device("d", "d1", "td");
  await device("e", "e1", "te");
  // c has a socket on a node whose heartbeat is live.
  await redis.zadd(keys.presenceOnline(presenceBucket("c")), 0, "c");
  await redis.zadd(keys.presenceNodes(presenceBucket("c")), Date.now() + 60_000, "some-node");
});
afterAll(async () => {
  await dropPrefix(prefix);
  redis.disconnect();
  await store.close();
});

const useCase = (provider: PushProvider, logger: Logger = createLogger("silent", "test")) =>
  new NotifyUseCase({ store, redis, keys, provider, logger, reader: new MessageReader(store, pending) });

describe("notify", () => {
  it("pushes offline members only, collapsed per room, honouring mute unless mentioned; never twice under retry; prunes dead tokens", async () => {
    const provider = new FakeProvider();
    provider.outcomes.set("tb2", "retry");
    provider.outcomes.set("te", "dead");
    const m1 = msg(roomId, 1, { sender_id: "a", text: "hello @e", mentions: ["e"] });
    const m2 = msg(roomId, 2, { sender_id: "a", text: "second" });
    const uc = useCase(provider);
    // tb2 failed transiently: the job fails, to be retried.
    await expect(uc.messages([m1, m2])).rejects.toThrow(/retried/);
    const first = provider.pushes.map(
      (p) => `${p.device_id}:${p.data.type}:${p.data.message_id === m2.id ? "m2" : "m1"}:${p.data.count}`,
    );
    expect(first.sort()).toEqual(["b1:message:m2:2", "b2:message:m2:2", "e1:mention:m1:1"]);
    expect(provider.pushes.every((p) => p.collapse_key === roomId)).toBe(true);
    expect(provider.pushes.find((p) => p.device_id === "b1")?.notification?.body).toBe("second");
    // The dead token is gone from e's device.
    expect((await store.getDevice("e", "e1"))?.push_token).toBeNull();

    // The retry: only the push that failed goes again.
    provider.pushes.length = 0;
    provider.outcomes.delete("tb2");
    await uc.messages([m1, m2]);
    expect(provider.pushes.map((p) => p.device_id)).toEqual(["b2"]);
    provider.pushes.length = 0;
    await uc.messages([m1, m2]);
    expect(provider.pushes).toEqual([]);
  });

  it("two jobs carrying one message push it once per device, whichever reaches the provider first", async () => {
    // A rescued batch and its own batch are two notify jobs for the same message: they race.
    let release = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    class GatedProvider extends FakeProvider {
      override async send(pushes: Push[]): Promise<PushOutcome[]> {
        await gate;
        return super.send(pushes);
      }
    }
    const provider = new GatedProvider();
    const m = msg(roomId, 3, { sender_id: "a", text: "once" });
    // Settled together from the start: the job that loses the race fails before the gate opens.
    const both = Promise.allSettled([useCase(provider).messages([m]), useCase(provider).messages([m])]);
    // Both jobs are past their look at the marks before the provider answers either.
    await new Promise((r) => setTimeout(r, 100));
    release();
    const settled = await both;
    const perDevice = new Map<string, number>();
    for (const p of provider.pushes) perDevice.set(p.device_id, (perDevice.get(p.device_id) ?? 0) + 1);
    expect([...perDevice.entries()].sort()).toEqual([
      ["b1", 1],
      ["b2", 1],
    ]);
    // The job that lost the race asks to be retried, and its retry sends nothing more.
    expect(settled.filter((r) => r.status === "rejected")).toHaveLength(1);
    provider.pushes.length = 0;
    await useCase(provider).messages([m]);
    expect(provider.pushes).toEqual([]);
  });

  it("a message deleted for everyone before the pool got to it pushes nothing; an edit shows its new text", async () => {
    const provider = new FakeProvider();
    const gone = msg(roomId, 10, { sender_id: "a", text: "oops wrong chat" });
    const fixed = msg(roomId, 11, { sender_id: "a", text: "typo" });
    await store.insertMessages([gone, fixed]);
    await store.applyMessageOps([
      { kind: "delete", message_id: gone.id, room_id: roomId, rev: 100, at: new Date().toISOString() },
      {
        kind: "edit",
        message_id: fixed.id,
        room_id: roomId,
        rev: 101,
        at: new Date().toISOString(),
        text: "fixed",
      },
    ]);
    await useCase(provider).messages([gone, fixed]);
    expect(provider.pushes.some((p) => p.data.message_id === gone.id)).toBe(false);
    const body = provider.pushes.find((p) => p.device_id === "b1")?.notification?.body;
    expect(body).toBe("fixed");
    expect(JSON.stringify(provider.pushes)).not.toContain("oops");
  });

  it("a read clears the room on the user's devices with a silent push", async () => {
    const provider = new FakeProvider();
    await useCase(provider).clearRoom("b", roomId, 7);
    expect(provider.pushes.map((p) => p.device_id).sort()).toEqual(["b1", "b2"]);
    expect(
      provider.pushes.every(
        (p) => p.notification === null && p.data.type === "clear" && p.data.read_seq === "7",
      ),
    ).toBe(true);
  });

  it("the log provider records each push without its text or token", async () => {
    const lines: unknown[] = [];
    const logger = createLogger("silent", "test");
    logger.info = ((obj: unknown) => void lines.push(obj)) as typeof logger.info;
    const m = msg(roomId, 3, { sender_id: "a", text: "a secret text" });
    await useCase(new LogPushProvider(logger), logger).messages([m]);
    const out = JSON.stringify(lines);
    expect(out).toContain(m.id);
    expect(out).not.toContain("a secret text");
    expect(out).not.toContain('"tb1"');
  });
});
