import { randomUUID } from "node:crypto";
import type { DeviceRecord, DevicesStore, DeviceUpsert, SyncCursorRecord } from "../store.ts";
import { type Db, type DevicesDoc, keys } from "./couchbase.layout.ts";

/** Besides the cursor a device came with, its newest few cursors of a kind stay usable. */
const KEEP_NEWEST = 3;

type DeviceEntry = DevicesDoc["devices"][number];

function deviceRecord(entry: DeviceEntry): DeviceRecord {
  const { cursors: _cursors, push_claim: _claim, ...device } = entry;
  return device;
}

/**
 * DevicesStore and the sync cursors on Couchbase. A user's devices share one document, so the
 * per-user cap and a device's list of live cursors are checked in the write that changes them.
 * A push token's owner is a lookup document: the device that registers it claims it (CAS),
 * then the token is taken off the device that had it. Between those two writes both devices
 * hold it; a crash there leaves the old device with it until the provider reports it dead or
 * that device registers again.
 */
export class CouchbaseDevices implements DevicesStore {
  readonly #db: Db;
  constructor(db: Db) {
    this.#db = db;
  }

  async upsertDevice(d: DeviceUpsert, maxDevices: number) {
    let full = false;
    let created = false;
    let oldToken: string | null = null;
    // Names this registration, so a takeaway aimed at an earlier one leaves it alone.
    const claim = d.push_token ? randomUUID() : null;
    const { value } = await this.#db.devices.update(d.user_id, (current) => {
      full = false;
      const doc: DevicesDoc = current ?? { user_id: d.user_id, devices: [] };
      const entry = doc.devices.find((x) => x.device_id === d.device_id);
      created = !entry;
      oldToken = entry?.push_token ?? null;
      if (!entry) {
        if (doc.devices.length >= maxDevices) {
          full = true;
          return undefined;
        }
        doc.devices.push({
          user_id: d.user_id,
          device_id: d.device_id,
          platform: d.platform,
          push_token: d.push_token ?? null,
          push_claim: claim,
          app_version: d.app_version ?? null,
          created_at: d.at,
          updated_at: d.at,
          last_sync_at: null,
          last_seen_at: d.at,
          cursors: {},
        });
        return doc;
      }
      entry.platform = d.platform;
      if (d.push_token !== undefined) {
        entry.push_token = d.push_token;
        entry.push_claim = claim;
      }
      if (d.app_version !== undefined) entry.app_version = d.app_version;
      entry.updated_at = d.at;
      entry.last_seen_at = d.at;
      return doc;
    });
    if (full) return "full" as const;
    const device = value?.devices.find((x) => x.device_id === d.device_id);
    if (!device) throw new Error("device missing after its write");
    let tokenTakenFrom: { user_id: string; device_id: string } | null = null;
    if (d.push_token)
      tokenTakenFrom = await this.#claimToken(d.push_token, d.user_id, d.device_id, claim, d.at);
    if (oldToken && oldToken !== device.push_token)
      await this.#releaseToken(oldToken, d.user_id, d.device_id);
    return { device: deviceRecord(device), created, tokenTakenFrom };
  }

  /** Points the token at this device, then takes it off the device that held it (if it still does). */
  async #claimToken(token: string, userId: string, deviceId: string, claim: string | null, at: string) {
    // Set inside the CAS loop (its last run is the one that wrote).
    const seen: { previous: { user_id: string; device_id: string; claim: string | null } | null } = {
      previous: null,
    };
    await this.#db.pushTokens.update(keys.pushToken(token), (current) => {
      seen.previous = null;
      if (current && (current.claim ?? null) === claim) return undefined;
      // The same device's earlier registration is replaced, not taken from.
      if (current && !(current.user_id === userId && current.device_id === deviceId))
        seen.previous = {
          user_id: current.user_id,
          device_id: current.device_id,
          claim: current.claim ?? null,
        };
      return { token, user_id: userId, device_id: deviceId, claim };
    });
    const from = seen.previous;
    if (!from) return null;
    // Only the registration the lookup named: one made since (a re-registration) keeps the token.
    const { changed } = await this.#db.devices.update(from.user_id, (doc) => {
      const entry = doc?.devices.find(
        (x) =>
          x.device_id === from.device_id && x.push_token === token && (x.push_claim ?? null) === from.claim,
      );
      if (!doc || !entry) return undefined;
      entry.push_token = null;
      entry.updated_at = at;
      return doc;
    });
    return changed ? { user_id: from.user_id, device_id: from.device_id } : null;
  }

  /** Forgets the token's owner if it is still this device. */
  async #releaseToken(token: string, userId: string, deviceId: string): Promise<void> {
    await this.#db.pushTokens.removeIf(
      keys.pushToken(token),
      (owner) => owner.user_id === userId && owner.device_id === deviceId,
    );
  }

  async getDevice(userId: string, deviceId: string): Promise<DeviceRecord | null> {
    const entry = (await this.#db.devices.value(userId))?.devices.find((x) => x.device_id === deviceId);
    return entry ? deviceRecord(entry) : null;
  }

  async listDevices(userId: string): Promise<DeviceRecord[]> {
    const doc = await this.#db.devices.value(userId);
    return (doc?.devices ?? [])
      .map(deviceRecord)
      .sort((a, b) =>
        a.created_at < b.created_at
          ? -1
          : a.created_at > b.created_at
            ? 1
            : a.device_id < b.device_id
              ? -1
              : 1,
      );
  }

  async devicesOf(userIds: string[]): Promise<DeviceRecord[]> {
    const docs = await this.#db.devices.many(userIds);
    return [...docs.values()].flatMap((doc) => doc.devices.map(deviceRecord));
  }

  async deleteDevice(userId: string, deviceId: string): Promise<boolean> {
    const seen: { gone: DeviceEntry | null } = { gone: null };
    await this.#db.devices.update(userId, (doc) => {
      seen.gone = doc?.devices.find((x) => x.device_id === deviceId) ?? null;
      if (!doc || !seen.gone) return undefined;
      doc.devices = doc.devices.filter((x) => x.device_id !== deviceId);
      return doc;
    });
    const entry = seen.gone;
    if (!entry) return false;
    if (entry.push_token) await this.#releaseToken(entry.push_token, userId, deviceId);
    await Promise.all(
      Object.values(entry.cursors)
        .flat()
        .map((id) => this.#db.syncCursors.remove(id)),
    );
    return true;
  }

  async touchDevice(
    userId: string,
    deviceId: string,
    times: { last_sync_at?: string; last_seen_at?: string },
  ): Promise<DeviceRecord | null> {
    const later = (now: string | null, t: string | undefined) =>
      t !== undefined && (now === null || t > now) ? t : now;
    const { value } = await this.#db.devices.update(userId, (doc) => {
      const entry = doc?.devices.find((x) => x.device_id === deviceId);
      if (!doc || !entry) return undefined;
      const sync = later(entry.last_sync_at, times.last_sync_at);
      const seen = later(entry.last_seen_at, times.last_seen_at);
      if (sync === entry.last_sync_at && seen === entry.last_seen_at) return undefined;
      entry.last_sync_at = sync;
      entry.last_seen_at = seen;
      return doc;
    });
    const entry = value?.devices.find((x) => x.device_id === deviceId);
    return entry ? deviceRecord(entry) : null;
  }

  async dropPushToken(token: string): Promise<void> {
    const key = keys.pushToken(token);
    const owner = await this.#db.pushTokens.value(key);
    if (!owner) return;
    await this.#db.devices.update(owner.user_id, (doc) => {
      const entry = doc?.devices.find((x) => x.device_id === owner.device_id && x.push_token === token);
      if (!doc || !entry) return undefined;
      entry.push_token = null;
      return doc;
    });
    await this.#releaseToken(token, owner.user_id, owner.device_id);
  }

  // --- Sync cursors --------------------------------------------------------------------

  /**
   * The cursor's document first, then its id in its device's list (which fails if the device
   * is gone, and then the document is removed again); cursors pruned from the list are removed
   * after. A cursor counts only while its device lists it, so a crash between these writes
   * never lets a dropped cursor or a deleted device's cursor be used.
   */
  async saveSyncCursor(cursor: SyncCursorRecord, keep: string[]): Promise<boolean> {
    await this.#db.syncCursors.insert(cursor.id, cursor);
    let pruned: string[] = [];
    const { changed } = await this.#db.devices.update(cursor.user_id, (doc) => {
      pruned = [];
      const entry = doc?.devices.find((x) => x.device_id === cursor.device_id);
      if (!doc || !entry) return undefined;
      const ids = [...new Set([...(entry.cursors[cursor.kind] ?? []), cursor.id])].sort().reverse();
      const kept = new Set([
        cursor.id,
        ...keep.filter((id) => ids.includes(id)),
        ...ids.slice(0, KEEP_NEWEST),
      ]);
      pruned = ids.filter((id) => !kept.has(id));
      entry.cursors[cursor.kind] = ids.filter((id) => kept.has(id));
      return doc;
    });
    if (!changed) {
      await this.#db.syncCursors.remove(cursor.id);
      return false;
    }
    await Promise.all(pruned.map((id) => this.#db.syncCursors.remove(id)));
    return true;
  }

  async getSyncCursor(id: string): Promise<SyncCursorRecord | null> {
    const cursor = await this.#db.syncCursors.value(id);
    if (!cursor) return null;
    const entry = (await this.#db.devices.value(cursor.user_id))?.devices.find(
      (x) => x.device_id === cursor.device_id,
    );
    return entry?.cursors[cursor.kind]?.includes(id) ? cursor : null;
  }
}
