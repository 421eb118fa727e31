import { io, type Socket } from "socket.io-client";

export type Transport = "websocket" | "polling";
/** Both transports a client can use; socket tests run on each. */
export const TRANSPORTS: Transport[] = ["websocket", "polling"];

/**
 * Connects like an app and resolves once the server accepted the handshake. `websocket` (the
 * default here) connects straight over WebSocket; `polling` stays on HTTP long-polling; `default`
 * is what socket.io-client does out of the box: polling first, then the upgrade.
 */
export function connect(
  base: string,
  token: string,
  transport: Transport | "default" = "websocket",
  /** Headers a browser would add, such as its `origin`. */
  extraHeaders?: Record<string, string>,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = io(base, {
      auth: { token },
      ...(transport === "default" ? {} : { transports: [transport] }),
      ...(extraHeaders ? { extraHeaders } : {}),
      reconnection: false,
      forceNew: true,
    });
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", (err) => {
      socket.close();
      reject(err);
    });
  });
}

/** Resolves with the next event's payload, or rejects after `ms`. */
export function nextEvent<T = Record<string, unknown>>(socket: Socket, event: string, ms = 5000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    socket.once(event, (payload: T) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}

/** Collects every payload of an event. */
export function collect<T = Record<string, unknown>>(socket: Socket, event: string): T[] {
  const out: T[] = [];
  socket.on(event, (p: T) => out.push(p));
  return out;
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
  what = "condition",
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}
