import { ERROR_STATUS } from "../../src/contract/error-codes.ts";
import type { ErrorBody } from "../../src/contract/events.ts";
import type { MediaView, MessageView, RoomView } from "../../src/contract/views.ts";

/** A REST or socket error as docs/api.md defines it, plus what the client needs to act on it. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly retryAfterS: number | null;

  constructor(status: number, body: ErrorBody, retryAfterS: number | null = null) {
    super(body.message);
    this.status = status;
    this.code = body.code;
    this.retryAfterS = retryAfterS;
  }

  static fromAck(error: ErrorBody): ApiError {
    const details = error.details as { retry_after_s?: number } | undefined;
    const status = (ERROR_STATUS as Record<string, number>)[error.code] ?? 400;
    return new ApiError(status, error, details?.retry_after_s ?? null);
  }
}

/** The network itself failed (offline, server down): worth retrying, unlike an ApiError. */
export class NetworkError extends Error {}

export type UploadUrl = { upload_id: string; url: string; method: "PUT"; headers: Record<string, string> };

/** REST under /api/v1/chat, same origin as the page; every call carries the bearer token. */
export class RestClient {
  readonly #token: () => string;

  constructor(token: () => string) {
    this.#token = token;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(`/api/v1/chat${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.#token()}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new NetworkError(err instanceof Error ? err.message : "network error");
    }
    if (res.status === 204) return undefined as T;
    const json = (await res.json().catch(() => null)) as { error?: ErrorBody } | null;
    if (!res.ok) {
      const retry = Number(res.headers.get("retry-after"));
      throw new ApiError(
        res.status,
        json?.error ?? { code: "internal", message: `HTTP ${res.status}` },
        Number.isFinite(retry) && retry > 0 ? retry : null,
      );
    }
    return json as T;
  }

  rooms(cursor?: string) {
    return this.call<{ rooms: RoomView[]; next_cursor: string | null }>(
      "GET",
      `/rooms?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
    );
  }
  room(roomId: string) {
    return this.call<{ room: RoomView }>("GET", `/rooms/${roomId}`);
  }
  createDirect(memberId: string) {
    return this.call<{ room: RoomView }>("POST", "/rooms", { type: "direct", member_id: memberId });
  }
  createGroup(name: string, memberIds: string[]) {
    return this.call<{ room: RoomView }>("POST", "/rooms", { type: "group", name, member_ids: memberIds });
  }
  settings(roomId: string, settings: Partial<RoomView["settings"]>) {
    return this.call<{ room: RoomView }>("PUT", `/rooms/${roomId}/settings`, settings);
  }
  history(roomId: string, beforeSeq?: number) {
    const q = beforeSeq === undefined ? "limit=50" : `limit=50&before_seq=${beforeSeq}`;
    return this.call<{ messages: MessageView[]; has_more: boolean }>("GET", `/rooms/${roomId}/messages?${q}`);
  }
  message(messageId: string) {
    return this.call<{ message: MessageView }>("GET", `/messages/${messageId}`);
  }
  edit(messageId: string, text: string) {
    return this.call<{ message: MessageView }>("PATCH", `/messages/${messageId}`, { text });
  }
  remove(messageId: string, scope: "me" | "everyone") {
    return this.call<void>("DELETE", `/messages/${messageId}?for=${scope}`);
  }
  react(messageId: string, emoji: string | null) {
    return emoji
      ? this.call<{ message: MessageView }>("PUT", `/messages/${messageId}/reaction`, { emoji })
      : this.call<void>("DELETE", `/messages/${messageId}/reaction`);
  }
  star(messageId: string, on: boolean) {
    return this.call<void>(on ? "PUT" : "DELETE", `/messages/${messageId}/star`);
  }
  starred() {
    return this.call<{ messages: MessageView[]; next_cursor: string | null }>("GET", "/starred?limit=100");
  }
  forward(messageId: string, roomIds: string[]) {
    return this.call<{ forward_id: string }>("POST", `/messages/${messageId}/forward`, { room_ids: roomIds });
  }
  info(messageId: string) {
    return this.call<{ delivered: { user_id: string }[]; read: { user_id: string }[]; pending: string[] }>(
      "GET",
      `/messages/${messageId}/info`,
    );
  }
  search(q: string) {
    return this.call<{ messages: MessageView[] }>(
      "GET",
      `/search/messages?limit=50&q=${encodeURIComponent(q)}`,
    );
  }
  presence(userId: string) {
    return this.call<{ online: boolean; last_seen_at: string | null }>("GET", `/users/${userId}/presence`);
  }
  block(userId: string, on: boolean) {
    return this.call<void>(on ? "POST" : "DELETE", `/users/${userId}/block`);
  }
  registerDevice(deviceId: string) {
    return this.call<unknown>("POST", "/devices", {
      device_id: deviceId,
      platform: "web",
      app_version: "web-1",
    });
  }
  uploadUrl(file: File) {
    return this.call<UploadUrl>("POST", "/media/upload-url", {
      filename: file.name,
      content_type: file.type || "application/octet-stream",
      size: file.size,
    });
  }
  confirm(uploadId: string) {
    return this.call<{ media: MediaView }>("POST", "/media/confirm", { upload_id: uploadId });
  }
}

/** PUTs the file straight to storage (the signed URL needs no token). */
export async function putFile(target: UploadUrl, file: File): Promise<void> {
  let res: Response;
  try {
    res = await fetch(target.url, { method: "PUT", headers: target.headers, body: file });
  } catch (err) {
    throw new NetworkError(err instanceof Error ? err.message : "upload failed");
  }
  if (!res.ok) {
    const json = (await res.json().catch(() => null)) as { error?: ErrorBody } | null;
    throw new ApiError(
      res.status,
      json?.error ?? { code: "internal", message: `upload failed (${res.status})` },
    );
  }
}
