import type { AuthUser } from "../auth/jwt.ts";
import type { DeviceUpdate } from "../contract/events.ts";
import type { DeviceView } from "../contract/views.ts";
import { AppError, notFound } from "../kernel/errors.ts";
import type { Exact } from "../kernel/type-checks.ts";
import type { DeviceRecord, DevicesStore } from "../store/store.ts";
import type { RegisterDeviceInput } from "./devices.schemas.ts";

/** A device as clients see it: everything but the owner (it is the caller), nothing more. */
const _view: Exact<Omit<DeviceRecord, "user_id">, DeviceView> = true;
const toDeviceView = ({ user_id: _owner, ...device }: DeviceRecord): DeviceView => device;

/** Realtime side: `device:updated` to a user's sockets. */
export interface DeviceEvents {
  deviceUpdated(userId: string, payload: DeviceUpdate): void;
}

/**
 * A user's devices (API.md 25–27): upserted by `device_id`; a push token lives on one device
 * at a time, so registering it moves it (the device it left hears of it too).
 */
export class DevicesService {
  readonly #store: DevicesStore;
  readonly #events: DeviceEvents;
  readonly #maxDevices: number;

  constructor(store: DevicesStore, events: DeviceEvents, maxDevices = 20) {
    this.#store = store;
    this.#events = events;
    this.#maxDevices = maxDevices;
  }

  async register(
    user: AuthUser,
    input: RegisterDeviceInput,
  ): Promise<{ device: DeviceView; created: boolean }> {
    // Each device costs a push per message and its cursors: a user may have only so many.
    const result = await this.#store.upsertDevice(
      {
        user_id: user.id,
        device_id: input.device_id,
        platform: input.platform,
        push_token: input.push_token,
        app_version: input.app_version,
        at: new Date().toISOString(),
      },
      this.#maxDevices,
    );
    if (result === "full") {
      throw new AppError("conflict", `at most ${this.#maxDevices} devices per user: remove one first`, {
        max_devices: this.#maxDevices,
      });
    }
    const { device, created, tokenTakenFrom } = result;
    const view = toDeviceView(device);
    this.#events.deviceUpdated(user.id, { device: view });
    // The device the token left changed too, whoever's it is (this user's other device included).
    if (tokenTakenFrom) {
      const left = await this.#store.getDevice(tokenTakenFrom.user_id, tokenTakenFrom.device_id);
      if (left) this.#events.deviceUpdated(left.user_id, { device: toDeviceView(left) });
    }
    return { device: view, created };
  }

  async list(user: AuthUser): Promise<DeviceView[]> {
    return (await this.#store.listDevices(user.id)).map(toDeviceView);
  }

  async remove(user: AuthUser, deviceId: string): Promise<void> {
    if (!(await this.#store.deleteDevice(user.id, deviceId))) throw notFound("device");
    this.#events.deviceUpdated(user.id, { device_id: deviceId, deleted: true });
  }

  /** A sync happened on this device now. */
  async touchSync(user: AuthUser, deviceId: string, at: string): Promise<void> {
    await this.#store.touchDevice(user.id, deviceId, { last_sync_at: at, last_seen_at: at });
  }

  /** The caller's device, or 404: sync and other per-device calls name one. */
  async require(user: AuthUser, deviceId: string): Promise<DeviceRecord> {
    const device = await this.#store.getDevice(user.id, deviceId);
    if (!device) throw notFound("device");
    return device;
  }
}
