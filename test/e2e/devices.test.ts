import { describe, expect, it } from "vitest";
import { collect, waitFor } from "../helpers/socket.ts";
import { useTwoNodes } from "../helpers/two-nodes.ts";

type Device = { device_id: string; platform: string; push_token: string | null; last_sync_at: string | null };
type ErrorBody = { error: { code: string } };

const t = useTwoNodes("devices", { workers: 0 });

describe("devices (25–27)", () => {
  it("upsert (201 then 200), list, a token moving between users, delete, device:updated on every node", async () => {
    const alice = t.on(t.nodeA, "d-alice");
    const socket = await t.open(t.nodeB, "d-alice");
    const events = collect<{ device?: Device; device_id?: string; deleted?: boolean }>(
      socket,
      "device:updated",
    );
    const bobSocket = await t.open(t.nodeB, "d-bob");
    const bobEvents = collect<{ device?: Device }>(bobSocket, "device:updated");

    const created = await alice.call<{ device: Device }>("POST", "/devices", {
      device_id: "phone-1",
      platform: "ios",
      push_token: "fcm:token-1",
      app_version: "2.3.0",
    });
    expect(created.status).toBe(201);
    expect(created.body.device).toMatchObject({
      device_id: "phone-1",
      platform: "ios",
      push_token: "fcm:token-1",
    });
    expect(created.body.device).not.toHaveProperty("user_id");
    const updated = await alice.call<{ device: Device }>("POST", "/devices", {
      device_id: "phone-1",
      platform: "ios",
    });
    expect(updated.status).toBe(200);
    expect(updated.body.device.push_token).toBe("fcm:token-1");
    await alice.call("POST", "/devices", { device_id: "laptop", platform: "web" });
    const list = await t.on(t.nodeB, "d-alice").call<{ devices: Device[] }>("GET", "/devices");
    expect(list.body.devices.map((d) => d.device_id)).toEqual(["phone-1", "laptop"]);
    expect(
      (await t.on(t.nodeB, "d-bob").call<{ devices: Device[] }>("GET", "/devices")).body.devices,
    ).toEqual([]);

    // The phone changes hands: bob registers the token, alice's device loses it.
    const bob = t.on(t.nodeA, "d-bob");
    expect(
      (
        await bob.call("POST", "/devices", {
          device_id: "b-1",
          platform: "android",
          push_token: "fcm:token-1",
        })
      ).status,
    ).toBe(201);
    const after = await alice.call<{ devices: Device[] }>("GET", "/devices");
    expect(after.body.devices.find((d) => d.device_id === "phone-1")?.push_token).toBeNull();

    // Moving the token between two of her own devices tells her about both. The events so far
    // (two for phone-1, laptop, phone-1 losing its token) cross nodes through Redis: all in first.
    await waitFor(() => events.length >= 4, 5000, "the first four device:updated");
    const before = events.length;
    expect(
      (
        await alice.call("POST", "/devices", {
          device_id: "phone-2",
          platform: "ios",
          push_token: "fcm:token-2",
        })
      ).status,
    ).toBe(201);
    expect(
      (
        await alice.call("POST", "/devices", {
          device_id: "phone-1",
          platform: "ios",
          push_token: "fcm:token-2",
        })
      ).status,
    ).toBe(200);
    await waitFor(() => events.length >= before + 3, 5000, "device:updated for both devices");
    expect(events.slice(before).map((e) => e.device?.device_id)).toEqual(["phone-2", "phone-1", "phone-2"]);
    expect(events.at(-1)?.device?.push_token).toBeNull();
    expect((await alice.call("DELETE", "/devices/phone-2")).status).toBe(204);

    expect((await alice.call("DELETE", "/devices/laptop")).status).toBe(204);
    expect((await alice.call<ErrorBody>("DELETE", "/devices/laptop")).status).toBe(404);
    // Another user's device cannot be deleted (it is not the caller's: 404).
    expect((await alice.call("DELETE", "/devices/b-1")).status).toBe(404);

    await waitFor(() => events.some((e) => e.device_id === "laptop"), 5000, "device:updated for the delete");
    expect(events.slice(0, 4).map((e) => e.device?.device_id)).toEqual([
      "phone-1",
      "phone-1",
      "laptop",
      "phone-1",
    ]);
    expect(events.at(-1)).toEqual({ device_id: "laptop", deleted: true });
    expect(bobEvents.map((e) => e.device?.device_id)).toEqual(["b-1"]);
  });

  it("caps the devices of a user (DEVICES_MAX_PER_USER, 20): 409 above it; updating one still works", async () => {
    const erin = t.on(t.nodeA, "d-erin");
    for (let i = 0; i < 20; i++) {
      expect((await erin.call("POST", "/devices", { device_id: `e-${i}`, platform: "web" })).status).toBe(
        201,
      );
    }
    expect((await erin.call("POST", "/devices", { device_id: "e-20", platform: "web" })).status).toBe(409);
    expect((await erin.call("POST", "/devices", { device_id: "e-3", platform: "ios" })).status).toBe(200);
  });

  it("refuses bad input with 400 and changes nothing", async () => {
    const carol = t.on(t.nodeA, "d-carol");
    for (const body of [
      { device_id: "x", platform: "nokia" },
      { device_id: "a|b", platform: "web" },
      { device_id: "x".repeat(65), platform: "web" },
      { device_id: "x", platform: "web", push_token: "has space" },
      { device_id: "x", platform: "web", extra: 1 },
      { platform: "web" },
    ]) {
      expect((await carol.call("POST", "/devices", body)).status, JSON.stringify(body)).toBe(400);
    }
    expect((await carol.call<{ devices: Device[] }>("GET", "/devices")).body.devices).toEqual([]);
  });
});
