/**
 * The soak's clients: a few hundred users, each with a Socket.IO client (half WebSocket, half
 * long-polling) on one of the two APIs, doing what apps do (sends with retries under a fixed
 * client_id, edits, deletes, reactions, stars, receipts, member changes, media, forwards,
 * reconnects with catch-up syncs) and writing what they were told into the Ledger that
 * checks.ts reads. Nothing here throws once the workload runs: a killed API only produces
 * "network" outcomes and retries.
 */
import { io, type Socket } from "socket.io-client";
import { z } from "zod";
import { signToken } from "../../src/auth/jwt.ts";
import type { ClientToServerEvents, SendPayload, ServerToClientEvents } from "../../src/contract/events.ts";
import type { Ledger, OpRecord, SendRecord, SoakRoom, SoakUser } from "./ledger.ts";
import { mulberry32 } from "./rng.ts";

type ChatSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
type Log = (line: string) => void;
/** What the workload needs of the system (SoakSystem has more). */
export type WorkloadSystem = { apis: string[]; jwtSecret: string };

const CHAT = "/api/v1/chat";
const REQUEST_TIMEOUT_MS = 10_000;
const UPLOAD_TIMEOUT_MS = 15_000;
/**
 * "Ack timeouts (a few seconds)": a send's ack later than this is retried under its client_id.
 * Not shorter: checks.ts holds a timeout while no API is down against the server.
 */
const SEND_ACK_TIMEOUT_MS = 8000;
const SYNC_ACK_TIMEOUT_MS = 10_000;
const SEND_GIVE_UP_MS = 30_000;
const RESEND_GIVE_UP_MS = 10_000;
/** Retry-After is honoured up to this: a long one would only idle the slot past the give-up. */
const RETRY_AFTER_CAP_MS = 5000;
const DRAIN_MAX_MS = 45_000;
/** The server's edit window is 900 s; stay clear of its edge so an edit's 403 means a race. */
const EDIT_MAX_AGE_MS = 600_000;
const KNOWN_PER_ROOM = 300;
const OWN_PER_USER = 50;
const MAX_SYNC_PAGES = 100;
const GROUP_MIN = 3;
const GROUP_MAX = 30;
const EMOJI = ["👍", "❤️", "😂", "🎉", "👀", "🔥", "🙏"];
/** A valid 1×1 PNG: the media pool makes it `ready` (thumbnail, placeholder) like any photo. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==",
  "base64",
);

/** Relative weights of the operation mix (a send is ~40% of operations). */
const DEFAULT_WEIGHTS = {
  send: 40,
  resend: 2,
  edit: 8,
  delete: 3,
  react: 12,
  star: 5,
  read: 14,
  member: 2,
  media: 1,
  forward: 3,
  sync: 3,
  bounce: 2,
} as const;
type OpKind = keyof typeof DEFAULT_WEIGHTS;

// ---- what the server answers, parsed loosely (fields may be added, never removed) ----

const messageSchema = z.object({
  id: z.string(),
  room_id: z.string(),
  seq: z.number().int(),
  sender_id: z.string(),
  client_id: z.string(),
  type: z.string(),
  deleted: z.boolean(),
  forwarded: z.unknown().optional(),
  media_id: z.string().nullable().optional(),
});
type WireMessage = z.infer<typeof messageSchema>;
const messageBody = z.object({ message: messageSchema });
const roomBody = z.object({
  room: z.object({
    id: z.string(),
    type: z.enum(["direct", "group"]),
    members: z.array(z.object({ user_id: z.string(), role: z.string() })).optional(),
  }),
});
const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string().optional() }) });
const syncPageBody = z.object({
  messages: z.array(messageSchema),
  next_since: z.string(),
  has_more: z.boolean(),
});
const cursorBody = z.object({ next_since: z.string() });
const uploadBody = z.object({
  upload_id: z.string(),
  url: z.string(),
  headers: z.record(z.string(), z.string()).optional(),
});
const mediaBody = z.object({ media: z.object({ id: z.string(), status: z.string() }) });
const forwardBody = z.object({ forward_id: z.string() });
const ackOk = z.object({ ok: z.literal(true) });
const ackError = z.object({
  ok: z.literal(false),
  error: z.object({ code: z.string(), details: z.unknown().optional() }),
});
const retryDetails = z.object({ retry_after_s: z.number() });
const failedEvent = z.object({
  message_id: z.string(),
  room_id: z.string(),
  client_id: z.string(),
  reason: z.string(),
});
const messageEvent = z.object({ message: messageSchema });

// ---- the clients' state ----

type KnownMessage = {
  id: string;
  room_id: string;
  sender_id: string;
  seq: number;
  type: string;
  deleted: boolean;
  /** When a client first learned of it (the edit window is counted from here). */
  seenAt: number;
};

type UserState = {
  idx: number;
  id: string;
  token: string;
  transport: "websocket" | "polling";
  /** Index into apis for REST; moves to the other API after a network error. */
  restApi: number;
  socketApi: number;
  socket: ChatSocket | null;
  connected: boolean;
  /** Deliberately disconnected (a "bounce"): no reconnect until the timer says so. */
  away: boolean;
  reconnectTimer: NodeJS.Timeout | null;
  /** The device used for the app's syncs; its cursors move (unlike the ledger's witness device). */
  appDevice: string;
  roomsSince: string | null;
  messagesSince: string | null;
  syncTail: Promise<void>;
  syncQueued: number;
  /** Rooms the client believes it is in (updated from acknowledged member changes). */
  rooms: Set<string>;
  /** Its own recent acknowledged text messages (edit and delete candidates). */
  own: string[];
  sent: number;
};

type RoomState = {
  id: string;
  type: "direct" | "group";
  members: Set<string>;
  /** The group's creator, its only admin (the workload changes no roles). */
  admin: string | null;
  former: Set<string>;
  /** Recent message ids, oldest first. */
  known: string[];
  lastSeq: number;
  /** A member change in flight: one at a time per room keeps the local model exact. */
  changing: boolean;
};

type AckedSend = { rec: SendRecord; payload: SendPayload };

type Runtime = {
  apis: string[];
  ledger: Ledger;
  log: Log;
  users: UserState[];
  byId: Map<string, UserState>;
  rooms: RoomState[];
  roomById: Map<string, RoomState>;
  messages: Map<string, KnownMessage>;
  ackedSends: AckedSend[];
  failedIds: Set<string>;
  failedClientIds: Set<string>;
  /** Message ids some client received as `message:new` (every member's sockets should). */
  newSeen: Set<string>;
  /** Acked messages when no member's socket was connected (nobody could have seen them live). */
  nobodyOnline: Set<string>;
  /** Timing-only randomness (backoff jitter, reconnect delays); the op choices use the seeded rng. */
  jitter: () => number;
  closed: boolean;
  inFlight: number;
  wake: (() => void) | null;
  anomalies: Map<string, number>;
  stats: {
    connects: number;
    connectErrors: number;
    disconnects: number;
    launched: Record<string, number>;
    /** Per kind: total and longest time in flight (ms), to tell what holds the slots. */
    took: Record<string, { total: number; max: number }>;
  };
};

const runtimes = new WeakMap<Ledger, Runtime>();
/**
 * Sockets the workload closed itself (a bounce, the end): an ack cut off by that is no answer
 * from the server, so it is no outcome (checks.ts reads "network" as the server's doing).
 */
const closedByClient = new WeakSet<ChatSocket>();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

function pick<T>(rng: () => number, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : items[Math.floor(rng() * items.length)];
}

/** Something that looks wrong on the server's side (or in the workload): logged, a few of each kind. */
function anomaly(rt: Runtime, kind: string, detail: string): void {
  const n = (rt.anomalies.get(kind) ?? 0) + 1;
  rt.anomalies.set(kind, n);
  if (n <= 10) rt.log(`workload: ${kind}: ${detail}`);
  else if (n === 11) rt.log(`workload: ${kind}: more (not logged)`);
}

function outcome(rt: Runtime, what: string, result: string): void {
  rt.ledger.outcomes.push({ what, result, at: Date.now() });
}

function op(rt: Runtime, record: OpRecord): void {
  rt.ledger.ops.push(record);
}

// ---- HTTP ----

type HttpResult =
  | { kind: "answer"; status: number; body: unknown; retryAfterMs: number | null }
  | { kind: "network"; refused: boolean };

/** fetch's own timeout (AbortSignal.timeout) as against a refused or reset connection. */
const isTimeout = (err: unknown) => err instanceof Error && err.name === "TimeoutError";

/** ECONNREFUSED: the request never reached a server, so even a non-idempotent one may be repeated. */
function isRefused(err: unknown): boolean {
  const cause = err instanceof Error ? err.cause : undefined;
  return typeof cause === "object" && cause !== null && "code" in cause && cause.code === "ECONNREFUSED";
}

function parseJson(text: string): unknown {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function errorText(body: unknown): string {
  const e = errorBody.safeParse(body);
  return e.success
    ? `${e.data.error.code}: ${e.data.error.message ?? ""}`
    : JSON.stringify(body).slice(0, 200);
}

/** One request from `u` to its current API; every answer and failure is an outcome. */
async function request(
  rt: Runtime,
  u: UserState,
  url: (base: string) => string,
  init: RequestInit,
  what: string,
  timeoutMs = REQUEST_TIMEOUT_MS,
): Promise<HttpResult> {
  const base = rt.apis[u.restApi % rt.apis.length] ?? "";
  try {
    const res = await fetch(url(base), { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    outcome(rt, what, String(res.status));
    const body = parseJson(text);
    if (res.status >= 500 && res.status !== 503) {
      anomaly(rt, `HTTP ${res.status}`, `${what} via ${base}: ${text.slice(0, 300)}`);
    }
    const ra = Number(res.headers.get("retry-after"));
    return {
      kind: "answer",
      status: res.status,
      body,
      retryAfterMs: Number.isFinite(ra) && ra > 0 ? ra * 1000 : null,
    };
  } catch (err) {
    outcome(rt, what, isTimeout(err) ? "timeout" : "network");
    // A dead or restarting API: the next request goes to the other one.
    u.restApi = (u.restApi + 1) % rt.apis.length;
    return { kind: "network", refused: isRefused(err) };
  }
}

function api(
  rt: Runtime,
  u: UserState,
  method: string,
  path: string,
  what: string,
  body?: unknown,
): Promise<HttpResult> {
  return request(
    rt,
    u,
    (base) => `${base}${CHAT}${path}`,
    {
      method,
      headers: {
        authorization: `Bearer ${u.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    },
    what,
  );
}

const backoff = (rt: Runtime, attempt: number) =>
  Math.min(3000, 200 * 2 ** Math.min(attempt, 4)) * (0.5 + rt.jitter());

/** Whether an answer (or its absence) is worth another attempt: network, 429, 5xx. */
function retryable(r: HttpResult, uncertainOk: boolean): boolean {
  if (r.kind === "network") return r.refused || uncertainOk;
  return r.status === 429 || r.status >= 500;
}

/**
 * A request repeated on network errors, 429 and 5xx (Retry-After honoured, capped). With
 * `uncertainOk` false a request that may have reached the server is not repeated (a forward
 * twice would make two sets of copies); connection refused is always safe to repeat.
 */
async function apiRetry(
  rt: Runtime,
  u: UserState,
  method: string,
  path: string,
  what: string,
  body?: unknown,
  opts: { attempts?: number; uncertainOk?: boolean } = {},
): Promise<HttpResult> {
  const attempts = opts.attempts ?? 4;
  let last: HttpResult = { kind: "network", refused: true };
  for (let i = 0; i < attempts; i++) {
    last = await api(rt, u, method, path, what, body);
    if (!retryable(last, opts.uncertainOk ?? true) || i === attempts - 1) return last;
    const wait =
      last.kind === "answer" && last.retryAfterMs !== null
        ? Math.min(last.retryAfterMs, RETRY_AFTER_CAP_MS)
        : backoff(rt, i);
    await sleep(wait);
  }
  return last;
}

const is2xx = (r: HttpResult) => r.kind === "answer" && r.status >= 200 && r.status < 300;

// ---- the local model ----

function noteMessage(rt: Runtime, m: WireMessage): KnownMessage | null {
  const room = rt.roomById.get(m.room_id);
  if (!room) return null;
  if (m.seq > room.lastSeq) room.lastSeq = m.seq;
  const known = rt.messages.get(m.id);
  if (known) {
    if (m.deleted) known.deleted = true;
    return known;
  }
  const k: KnownMessage = {
    id: m.id,
    room_id: m.room_id,
    sender_id: m.sender_id,
    seq: m.seq,
    type: m.type,
    deleted: m.deleted || rt.failedIds.has(m.id),
    seenAt: Date.now(),
  };
  rt.messages.set(m.id, k);
  room.known.push(m.id);
  if (room.known.length > KNOWN_PER_ROOM) room.known.splice(0, room.known.length - KNOWN_PER_ROOM);
  return k;
}

/** The room's members as an answer listed them: the authoritative state after a change. */
function setMembers(rt: Runtime, room: RoomState, userIds: string[]): void {
  const next = new Set(userIds);
  for (const id of room.members) {
    if (next.has(id)) continue;
    room.former.add(id);
    rt.byId.get(id)?.rooms.delete(room.id);
  }
  for (const id of next) {
    room.former.delete(id);
    rt.byId.get(id)?.rooms.add(room.id);
  }
  room.members = next;
}

function membersOf(body: unknown): string[] | null {
  const r = roomBody.safeParse(body);
  return r.success && r.data.room.members ? r.data.room.members.map((m) => m.user_id) : null;
}

// ---- sockets ----

function scheduleConnect(rt: Runtime, u: UserState, delayMs: number): void {
  if (rt.closed || u.reconnectTimer) return;
  u.reconnectTimer = setTimeout(() => {
    u.reconnectTimer = null;
    connectUser(rt, u);
  }, delayMs);
}

function connectUser(rt: Runtime, u: UserState): void {
  if (rt.closed || u.away || u.socket) return;
  const base = rt.apis[u.socketApi % rt.apis.length] ?? "";
  // Reconnection is ours: after a failure the client may move to the other API, like a client
  // behind a load balancer, and each (re)connect runs the web client's catch-up sync.
  const s: ChatSocket = io(base, {
    auth: { token: u.token },
    transports: [u.transport],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
  });
  u.socket = s;
  s.on("connect", () => {
    if (u.socket !== s) return;
    u.connected = true;
    rt.stats.connects++;
    void enqueueSync(rt, u, "socket");
  });
  s.on("connect_error", () => {
    if (u.socket !== s) return;
    rt.stats.connectErrors++;
    u.socket = null;
    u.connected = false;
    s.close();
    u.socketApi = (u.socketApi + 1) % rt.apis.length;
    scheduleConnect(rt, u, 300 + rt.jitter() * 2000);
  });
  s.on("disconnect", () => {
    if (u.socket !== s) return;
    rt.stats.disconnects++;
    u.socket = null;
    u.connected = false;
    s.close();
    if (rt.jitter() < 0.5) u.socketApi = (u.socketApi + 1) % rt.apis.length;
    scheduleConnect(rt, u, 200 + rt.jitter() * 1500);
  });
  s.on("message:new", (p) => {
    const m = messageEvent.safeParse(p);
    if (m.success) {
      rt.newSeen.add(m.data.message.id);
      noteMessage(rt, m.data.message);
    } else anomaly(rt, "unparsable message:new", JSON.stringify(p).slice(0, 200));
  });
  s.on("message:updated", (p) => {
    const m = messageEvent.safeParse(p);
    if (m.success) noteMessage(rt, m.data.message);
  });
  s.on("message:failed", (p) => {
    const f = failedEvent.safeParse(p);
    if (!f.success) return anomaly(rt, "unparsable message:failed", JSON.stringify(p).slice(0, 200));
    // Every member's sockets get it: one record per rolled-back message.
    if (rt.failedIds.has(f.data.message_id)) return;
    rt.failedIds.add(f.data.message_id);
    rt.failedClientIds.add(`${f.data.room_id}|${f.data.client_id}`);
    rt.ledger.failed.push({ ...f.data, at: Date.now() });
    const known = rt.messages.get(f.data.message_id);
    if (known) known.deleted = true;
    rt.log(`workload: message:failed ${JSON.stringify(f.data)}`);
  });
}

/** An ack's answer, or why there is none. */
type AckResult = { ok: true; body: unknown } | { ok: false; code: string; retryAfterMs: number | null };

function readAck(rt: Runtime, what: string, reply: unknown): AckResult {
  if (ackOk.safeParse(reply).success) {
    outcome(rt, what, "ack-ok");
    return { ok: true, body: reply };
  }
  const e = ackError.safeParse(reply);
  if (!e.success) {
    outcome(rt, what, "ack-error:?");
    anomaly(rt, "unparsable ack", `${what}: ${JSON.stringify(reply).slice(0, 200)}`);
    return { ok: false, code: "?", retryAfterMs: null };
  }
  const code = e.data.error.code;
  outcome(rt, what, `ack-error:${code}`);
  if (code === "internal") anomaly(rt, "ack internal", `${what}: ${JSON.stringify(reply).slice(0, 300)}`);
  const d = retryDetails.safeParse(e.data.error.details);
  return { ok: false, code, retryAfterMs: d.success ? d.data.retry_after_s * 1000 : null };
}

const retryableCode = (code: string) =>
  code === "unavailable" || code === "rate_limited" || code === "internal";

/** An emit with an ack under a timeout; no answer (a timeout, a disconnect) is null. */
async function emitAck(
  rt: Runtime,
  u: UserState,
  event: keyof ClientToServerEvents,
  emit: (s: ChatSocket) => Promise<unknown>,
): Promise<AckResult | null> {
  const s = u.socket;
  const what = `socket ${event}`;
  if (!s || !u.connected) return null;
  try {
    return readAck(rt, what, await emit(s));
  } catch (err) {
    // socket.io-client rejects pending acks at once on a disconnect, after the timeout otherwise.
    if (!closedByClient.has(s)) {
      outcome(rt, what, err instanceof Error && err.message.includes("timed out") ? "timeout" : "network");
    }
    return null;
  }
}

async function waitConnected(u: UserState, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!u.connected && Date.now() < end) await sleep(100);
  return u.connected;
}

// ---- sync (the app device; the ledger's witness device is never used during the workload) ----

function enqueueSync(rt: Runtime, u: UserState, via: "socket" | "rest"): Promise<void> {
  // One run at a time per device (cursors are a chain); a second one waiting is enough.
  if (u.syncQueued >= 2) return u.syncTail;
  u.syncQueued++;
  u.syncTail = u.syncTail
    .then(() => runSync(rt, u, via))
    .catch((err: unknown) => anomaly(rt, "workload bug", `sync: ${String(err)}`))
    .finally(() => {
      u.syncQueued--;
    });
  return u.syncTail;
}

async function runSync(rt: Runtime, u: UserState, via: "socket" | "rest"): Promise<void> {
  if (rt.closed) return;
  const device = { device_id: u.appDevice };
  let ok = true;
  if (via === "socket" && u.connected) {
    const payload = u.roomsSince ? { ...device, since: u.roomsSince } : device;
    const chats = await emitAck(rt, u, "chats:sync", (s) =>
      s.timeout(SYNC_ACK_TIMEOUT_MS).emitWithAck("chats:sync", payload),
    );
    const c = chats?.ok ? cursorBody.safeParse(chats.body) : null;
    if (c?.success) u.roomsSince = c.data.next_since;
    else {
      ok = false;
      if (chats && !chats.ok && chats.code === "invalid_request") {
        anomaly(rt, "chats cursor refused", `${u.id} ${u.appDevice}`);
        u.roomsSince = null;
      }
    }
  }
  for (let page = 0; ok && page < MAX_SYNC_PAGES; page++) {
    const since = u.messagesSince;
    let body: unknown = null;
    let refused = false;
    if (via === "socket" && u.connected) {
      const payload = since ? { ...device, since, limit: 100 } : device;
      const r = await emitAck(rt, u, "messages:sync", (s) =>
        s.timeout(SYNC_ACK_TIMEOUT_MS).emitWithAck("messages:sync", payload),
      );
      if (r?.ok) body = r.body;
      else refused = r !== null && !r.ok && r.code === "invalid_request";
    } else {
      const q = new URLSearchParams({ device_id: u.appDevice, limit: "100", ...(since ? { since } : {}) });
      const r = await apiRetry(rt, u, "GET", `/sync/messages?${q}`, "GET /sync/messages", undefined, {
        attempts: 3,
      });
      if (r.kind === "answer" && r.status === 200) body = r.body;
      else if (r.kind === "answer" && r.status === 400) {
        refused = true;
        anomaly(rt, "sync 400", errorText(r.body));
      }
    }
    if (refused) {
      // The device's newest cursor and the one it last came with stay usable (docs/api.md 29).
      anomaly(rt, "messages cursor refused", `${u.id} ${u.appDevice} via ${via}`);
      u.messagesSince = null;
    }
    const p = syncPageBody.safeParse(body);
    if (!p.success) {
      ok = false;
      break;
    }
    for (const m of p.data.messages) noteMessage(rt, m);
    u.messagesSince = p.data.next_since;
    if (!p.data.has_more) break;
  }
  op(rt, { kind: "sync", user_id: u.id, device_id: u.appDevice, acked: ok, at: Date.now() });
}

// ---- sends ----

type AttemptResult = (
  | { kind: "message"; message: WireMessage }
  | { kind: "retry"; waitMs: number | null; attempted: boolean }
  | { kind: "final" }
) & { note?: string };

async function restSendAttempt(rt: Runtime, u: UserState, p: SendPayload): Promise<AttemptResult> {
  const { room_id, ...body } = p;
  const r = await api(rt, u, "POST", `/rooms/${room_id}/messages`, "POST /rooms/:room_id/messages", body);
  if (r.kind === "network") return { kind: "retry", waitMs: null, attempted: true, note: "network" };
  if (r.status === 200 || r.status === 201) {
    const m = messageBody.safeParse(r.body);
    if (m.success) return { kind: "message", message: m.data.message };
    anomaly(rt, "unparsable send answer", JSON.stringify(r.body).slice(0, 200));
    return { kind: "final" };
  }
  if (r.status === 429 || r.status >= 500) {
    return { kind: "retry", waitMs: r.retryAfterMs, attempted: true, note: String(r.status) };
  }
  // The workload sends only valid bodies: a 400 is a race (a mention of a member just removed) or a bug.
  if (r.status === 400) anomaly(rt, "send 400", `${p.client_id} in ${room_id}: ${errorText(r.body)}`);
  return { kind: "final" };
}

async function socketSendAttempt(rt: Runtime, u: UserState, p: SendPayload): Promise<AttemptResult> {
  if (!u.connected && !(await waitConnected(u, 3000))) {
    return { kind: "retry", waitMs: 0, attempted: false, note: "no socket" };
  }
  const r = await emitAck(rt, u, "message:send", (s) =>
    s.timeout(SEND_ACK_TIMEOUT_MS).emitWithAck("message:send", p),
  );
  if (r === null) return { kind: "retry", waitMs: null, attempted: true, note: "no ack" };
  if (r.ok) {
    const m = messageBody.safeParse(r.body);
    if (m.success) return { kind: "message", message: m.data.message };
    anomaly(rt, "unparsable send ack", JSON.stringify(r.body).slice(0, 200));
    return { kind: "final" };
  }
  if (retryableCode(r.code)) return { kind: "retry", waitMs: r.retryAfterMs, attempted: true, note: r.code };
  return { kind: "final" };
}

/**
 * Attempts one logical send until an attempt is answered with its message, an attempt is
 * refused for good (4xx), or `giveUpMs` passes. Every attempt carries the same client_id, and
 * every message id an attempt was answered with goes into `answeredIds`.
 */
async function sendLoop(
  rt: Runtime,
  u: UserState,
  rec: SendRecord,
  payload: SendPayload,
  transport: "rest" | "socket",
  giveUpMs: number,
): Promise<WireMessage | null> {
  const began = Date.now();
  const giveUpAt = began + giveUpMs;
  let got: WireMessage | null = null;
  const notes: string[] = [];
  for (let i = 0; Date.now() < giveUpAt; i++) {
    const r =
      transport === "rest" ? await restSendAttempt(rt, u, payload) : await socketSendAttempt(rt, u, payload);
    if (r.note) notes.push(`${r.note}@${Date.now() - began}ms`);
    if (r.kind === "retry" && !r.attempted) continue;
    rec.attempts++;
    rec.at = Date.now();
    if (r.kind === "message") {
      got = r.message;
      break;
    }
    if (r.kind === "final") break;
    await sleep(Math.min(r.waitMs ?? backoff(rt, i), RETRY_AFTER_CAP_MS, Math.max(0, giveUpAt - Date.now())));
  }
  // Slow for another reason than the client being away (a bounce): worth a look.
  if (Date.now() - began > 10_000 && !notes.some((n) => n.startsWith("no socket"))) {
    const how = `${transport} ${rec.client_id}: ${got ? "acked" : "not acked"} after ${Date.now() - began} ms`;
    anomaly(rt, "slow send", `${how} (${notes.join(", ")})`);
  }
  if (!got) return null;
  if (!rec.answeredIds.includes(got.id)) rec.answeredIds.push(got.id);
  if (rec.answeredIds.length > 1) {
    anomaly(
      rt,
      "repeat answered another id",
      `${rec.client_id} in ${rec.room_id}: ${rec.answeredIds.join(", ")}`,
    );
  }
  if (got.client_id !== rec.client_id || got.room_id !== rec.room_id || got.sender_id !== rec.user_id) {
    anomaly(
      rt,
      "send answered someone else's message",
      `${rec.user_id}/${rec.client_id} in ${rec.room_id}: got ${JSON.stringify(got)}`,
    );
  }
  rec.acked ??= { message_id: got.id, seq: got.seq };
  return got;
}

async function doSend(
  rt: Runtime,
  u: UserState,
  payload: SendPayload,
  transport: "rest" | "socket",
): Promise<WireMessage | null> {
  const rec: SendRecord = {
    room_id: payload.room_id,
    user_id: u.id,
    client_id: payload.client_id,
    transport,
    attempts: 0,
    acked: null,
    answeredIds: [],
    at: Date.now(),
  };
  rt.ledger.sends.push(rec);
  const got = await sendLoop(rt, u, rec, payload, transport, SEND_GIVE_UP_MS);
  if (!got) return null;
  const known = noteMessage(rt, got);
  const room = rt.roomById.get(got.room_id);
  if (room && ![...room.members].some((id) => rt.byId.get(id)?.connected)) rt.nobodyOnline.add(got.id);
  if (known && payload.type === "text") {
    u.own.push(got.id);
    if (u.own.length > OWN_PER_USER) u.own.shift();
  }
  rt.ackedSends.push({ rec, payload });
  return got;
}

// ---- the operations ----

type Planned =
  | { kind: "send"; u: UserState; transport: "rest" | "socket"; payload: SendPayload }
  | { kind: "resend"; u: UserState; sent: AckedSend; transport: "rest" | "socket" }
  | { kind: "edit"; u: UserState; msg: KnownMessage; text: string }
  | { kind: "delete"; u: UserState; msg: KnownMessage }
  | { kind: "react"; u: UserState; msg: KnownMessage; emoji: string | null }
  | { kind: "star"; u: UserState; msg: KnownMessage; on: boolean }
  | { kind: "read"; u: UserState; room: RoomState; seq: number; via: "rest" | "socket" }
  | { kind: "add" | "remove"; u: UserState; room: RoomState; target: string }
  | { kind: "media"; u: UserState; room: RoomState; transport: "rest" | "socket"; clientId: string }
  | { kind: "forward"; u: UserState; msg: KnownMessage; roomIds: string[] }
  | { kind: "sync"; u: UserState }
  | { kind: "bounce"; u: UserState; awayMs: number };

function userRooms(u: UserState, rt: Runtime): RoomState[] {
  const out: RoomState[] = [];
  for (const id of u.rooms) {
    const r = rt.roomById.get(id);
    if (r) out.push(r);
  }
  return out;
}

/** A message of one of u's rooms that is neither a tombstone nor a system message. */
function pickMessage(rt: Runtime, rng: () => number, u: UserState): KnownMessage | null {
  const rooms = userRooms(u, rt);
  for (let i = 0; i < 5; i++) {
    const room = pick(rng, rooms);
    const id = room ? pick(rng, room.known) : undefined;
    const m = id ? rt.messages.get(id) : undefined;
    if (m && !m.deleted && m.type !== "system") return m;
  }
  return null;
}

function pickOwn(rt: Runtime, rng: () => number, u: UserState, maxAgeMs: number): KnownMessage | null {
  for (let i = 0; i < 4; i++) {
    const id = pick(rng, u.own);
    const m = id ? rt.messages.get(id) : undefined;
    if (m && !m.deleted && u.rooms.has(m.room_id) && Date.now() - m.seenAt < maxAgeMs) return m;
  }
  return null;
}

function nextClientId(u: UserState): string {
  u.sent++;
  return `${u.id}.${u.sent}`;
}

function planSend(rt: Runtime, rng: () => number, u: UserState): Planned | null {
  const room = pick(rng, userRooms(u, rt));
  if (!room) return null;
  const clientId = nextClientId(u);
  const transport = rng() < 0.5 && u.connected ? "socket" : "rest";
  const payload: SendPayload = {
    room_id: room.id,
    client_id: clientId,
    type: "text",
    text: `soak ${clientId}`,
  };
  if (rng() < 0.15) {
    const id = pick(rng, room.known);
    const m = id ? rt.messages.get(id) : undefined;
    if (m && !m.deleted) payload.reply_to_id = m.id;
  }
  if (rng() < 0.1) {
    const others = [...room.members].filter((id) => id !== u.id);
    const n = 1 + Math.floor(rng() * 2);
    const mentions = [...new Set(Array.from({ length: n }, () => pick(rng, others)))].filter(
      (x): x is string => x !== undefined,
    );
    if (mentions.length > 0) {
      payload.mentions = mentions;
      payload.text = `${mentions.map((m) => `@${m}`).join(" ")} ${payload.text}`;
    }
  }
  return { kind: "send", u, transport, payload };
}

function plan(rt: Runtime, rng: () => number, weights: Record<OpKind, number>): Planned | null {
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  let x = rng() * total;
  let kind: OpKind = "send";
  for (const [k, w] of Object.entries(weights) as [OpKind, number][]) {
    if (x < w) {
      kind = k;
      break;
    }
    x -= w;
  }
  const u = pick(rng, rt.users);
  if (!u) return null;
  // Each operation on a random API (a network error moves the retry to the other one), so what
  // one node accepted is read, changed and synced through the other.
  u.restApi = Math.floor(rng() * rt.apis.length);
  switch (kind) {
    case "send":
      return planSend(rt, rng, u);
    case "resend": {
      const sent = pick(rng, rt.ackedSends.slice(-500));
      const su = sent ? rt.byId.get(sent.rec.user_id) : undefined;
      // A rolled-back message frees its client_id, so a repeat may make a new message: not a test.
      if (!sent || !su || rt.failedClientIds.has(`${sent.rec.room_id}|${sent.rec.client_id}`)) break;
      return { kind: "resend", u: su, sent, transport: rng() < 0.5 && su.connected ? "socket" : "rest" };
    }
    case "edit": {
      const msg = pickOwn(rt, rng, u, EDIT_MAX_AGE_MS);
      if (msg) return { kind: "edit", u, msg, text: `edited ${Math.floor(rng() * 1e6)}` };
      break;
    }
    case "delete": {
      if (rng() < 0.6) {
        const msg = pickOwn(rt, rng, u, EDIT_MAX_AGE_MS);
        if (msg) return { kind: "delete", u, msg };
        break;
      }
      // A group admin may delete anyone's message.
      const groups = rt.rooms.filter((r) => r.admin === u.id);
      const room = pick(rng, groups);
      const id = room ? pick(rng, room.known) : undefined;
      const msg = id ? rt.messages.get(id) : undefined;
      if (msg && !msg.deleted && msg.type !== "system") return { kind: "delete", u, msg };
      break;
    }
    case "react": {
      const msg = pickMessage(rt, rng, u);
      if (msg) return { kind: "react", u, msg, emoji: rng() < 0.25 ? null : (pick(rng, EMOJI) ?? "👍") };
      break;
    }
    case "star": {
      const msg = pickMessage(rt, rng, u);
      if (msg) return { kind: "star", u, msg, on: rng() < 0.7 };
      break;
    }
    case "read": {
      const room = pick(rng, userRooms(u, rt));
      if (room && room.lastSeq > 0) {
        // Mostly the newest; sometimes an older seq (must change nothing: receipts are monotonic).
        const seq = rng() < 0.8 ? room.lastSeq : 1 + Math.floor(rng() * room.lastSeq);
        return { kind: "read", u, room, seq, via: rng() < 0.5 && u.connected ? "socket" : "rest" };
      }
      break;
    }
    case "member": {
      const room = pick(
        rng,
        rt.rooms.filter((r) => r.type === "group" && !r.changing),
      );
      const admin = room?.admin ? rt.byId.get(room.admin) : undefined;
      if (!room || !admin) break;
      const add = room.members.size <= GROUP_MIN || (room.members.size < GROUP_MAX && rng() < 0.5);
      if (add) {
        const former = [...room.former];
        let target = former.length > 0 && rng() < 0.5 ? pick(rng, former) : undefined;
        for (let i = 0; !target && i < 5; i++) {
          const c = pick(rng, rt.users);
          if (c && !room.members.has(c.id)) target = c.id;
        }
        if (target) return { kind: "add", u: admin, room, target };
        break;
      }
      const target = pick(
        rng,
        [...room.members].filter((id) => id !== room.admin),
      );
      if (target) return { kind: "remove", u: admin, room, target };
      break;
    }
    case "media": {
      const room = pick(rng, userRooms(u, rt));
      if (room) {
        const transport = rng() < 0.5 && u.connected ? "socket" : "rest";
        return { kind: "media", u, room, transport, clientId: nextClientId(u) };
      }
      break;
    }
    case "forward": {
      const msg = pickMessage(rt, rng, u);
      const rooms = [...u.rooms];
      if (!msg || rooms.length === 0) break;
      const n = 1 + Math.floor(rng() * 3);
      const targets = [...new Set(Array.from({ length: n }, () => pick(rng, rooms)))].filter(
        (x): x is string => x !== undefined,
      );
      return { kind: "forward", u, msg, roomIds: targets };
    }
    case "sync":
      return { kind: "sync", u };
    case "bounce":
      if (u.connected && !u.away) return { kind: "bounce", u, awayMs: 1000 + Math.floor(rng() * 9000) };
      break;
  }
  return planSend(rt, rng, u);
}

async function execute(rt: Runtime, p: Planned): Promise<void> {
  const now = () => Date.now();
  switch (p.kind) {
    case "send":
      await doSend(rt, p.u, p.payload, p.transport);
      return;
    case "resend": {
      const { rec, payload } = p.sent;
      // Another body under the same client_id: the server must answer the first message.
      const again: SendPayload = {
        ...payload,
        ...(payload.type === "text" ? { text: `${payload.text} (again)` } : {}),
      };
      await sendLoop(rt, p.u, rec, again, p.transport, RESEND_GIVE_UP_MS);
      return;
    }
    case "edit": {
      const r = await apiRetry(rt, p.u, "PATCH", `/messages/${p.msg.id}`, "PATCH /messages/:message_id", {
        text: p.text,
      });
      op(rt, {
        kind: "edit",
        user_id: p.u.id,
        message_id: p.msg.id,
        room_id: p.msg.room_id,
        text: p.text,
        acked: is2xx(r),
        at: now(),
      });
      return;
    }
    case "delete": {
      const r = await apiRetry(
        rt,
        p.u,
        "DELETE",
        `/messages/${p.msg.id}?for=everyone`,
        "DELETE /messages/:message_id",
      );
      if (is2xx(r)) p.msg.deleted = true;
      op(rt, {
        kind: "delete",
        user_id: p.u.id,
        message_id: p.msg.id,
        room_id: p.msg.room_id,
        acked: is2xx(r),
        at: now(),
      });
      return;
    }
    case "react": {
      const path = `/messages/${p.msg.id}/reaction`;
      const r =
        p.emoji === null
          ? await apiRetry(rt, p.u, "DELETE", path, "DELETE /messages/:message_id/reaction")
          : await apiRetry(rt, p.u, "PUT", path, "PUT /messages/:message_id/reaction", { emoji: p.emoji });
      op(rt, {
        kind: "react",
        user_id: p.u.id,
        message_id: p.msg.id,
        room_id: p.msg.room_id,
        emoji: p.emoji,
        acked: is2xx(r),
        at: now(),
      });
      return;
    }
    case "star": {
      const method = p.on ? "PUT" : "DELETE";
      const r = await apiRetry(
        rt,
        p.u,
        method,
        `/messages/${p.msg.id}/star`,
        `${method} /messages/:message_id/star`,
      );
      op(rt, {
        kind: "star",
        user_id: p.u.id,
        message_id: p.msg.id,
        room_id: p.msg.room_id,
        starred: p.on,
        acked: is2xx(r),
        at: now(),
      });
      return;
    }
    case "read": {
      let acked = false;
      if (p.via === "socket") {
        const receipt = { room_id: p.room.id, seq: p.seq };
        const r = await emitAck(rt, p.u, "message:read", (s) =>
          s.timeout(SEND_ACK_TIMEOUT_MS).emitWithAck("message:read", receipt),
        );
        acked = r?.ok === true;
      } else {
        const r = await apiRetry(rt, p.u, "POST", `/rooms/${p.room.id}/read`, "POST /rooms/:room_id/read", {
          seq: p.seq,
        });
        acked = is2xx(r);
      }
      op(rt, { kind: "read", user_id: p.u.id, room_id: p.room.id, seq: p.seq, acked, at: now() });
      return;
    }
    case "add":
    case "remove": {
      p.room.changing = true;
      try {
        const r =
          p.kind === "add"
            ? await apiRetry(rt, p.u, "POST", `/rooms/${p.room.id}/members`, "POST /rooms/:room_id/members", {
                user_ids: [p.target],
              })
            : await apiRetry(
                rt,
                p.u,
                "DELETE",
                `/rooms/${p.room.id}/members/${p.target}`,
                "DELETE /rooms/:room_id/members/:user_id",
              );
        const acked = is2xx(r);
        const members = r.kind === "answer" && acked ? membersOf(r.body) : null;
        if (members) setMembers(rt, p.room, members);
        else await refreshMembers(rt, p.u, p.room);
        op(rt, { kind: p.kind, user_id: p.u.id, room_id: p.room.id, target_id: p.target, acked, at: now() });
      } finally {
        p.room.changing = false;
      }
      return;
    }
    case "media":
      await doMedia(rt, p.u, p.room, p.transport, p.clientId);
      return;
    case "forward": {
      const r = await apiRetry(
        rt,
        p.u,
        "POST",
        `/messages/${p.msg.id}/forward`,
        "POST /messages/:message_id/forward",
        { room_ids: p.roomIds },
        { uncertainOk: false },
      );
      const f = r.kind === "answer" && r.status === 202 ? forwardBody.safeParse(r.body) : null;
      op(rt, {
        kind: "forward",
        user_id: p.u.id,
        message_id: p.msg.id,
        room_ids: p.roomIds,
        forward_id: f?.success ? f.data.forward_id : null,
        acked: is2xx(r),
        at: now(),
      });
      return;
    }
    case "sync":
      await enqueueSync(rt, p.u, "rest");
      return;
    case "bounce": {
      // Away for a while (an app in the background), then back with a catch-up sync.
      const s = p.u.socket;
      p.u.away = true;
      p.u.socket = null;
      p.u.connected = false;
      if (s) {
        closedByClient.add(s);
        s.close();
      }
      setTimeout(() => {
        p.u.away = false;
        if (rt.jitter() < 0.5) p.u.socketApi = (p.u.socketApi + 1) % rt.apis.length;
        connectUser(rt, p.u);
      }, p.awayMs);
      return;
    }
  }
}

/** After a member change whose answer was lost: the admin reads the room as it now is. */
async function refreshMembers(rt: Runtime, admin: UserState, room: RoomState): Promise<void> {
  const r = await apiRetry(rt, admin, "GET", `/rooms/${room.id}`, "GET /rooms/:room_id", undefined, {
    attempts: 6,
  });
  const members = r.kind === "answer" && r.status === 200 ? membersOf(r.body) : null;
  if (members) setMembers(rt, room, members);
  else anomaly(rt, "room unreadable by its admin", `${room.id} by ${admin.id}`);
}

async function doMedia(
  rt: Runtime,
  u: UserState,
  room: RoomState,
  transport: "rest" | "socket",
  clientId: string,
): Promise<void> {
  const record = (media_id: string, message_id: string | null) =>
    op(rt, {
      kind: "media",
      user_id: u.id,
      room_id: room.id,
      media_id,
      message_id,
      acked: message_id !== null,
      at: Date.now(),
    });
  const filename = `soak-${clientId}.png`;
  const up = await apiRetry(rt, u, "POST", "/media/upload-url", "POST /media/upload-url", {
    filename,
    content_type: "image/png",
    size: PNG.length,
  });
  const target = up.kind === "answer" && up.status === 201 ? uploadBody.safeParse(up.body) : null;
  if (!target?.success) return record("", null);
  const { upload_id, url, headers } = target.data;
  const localOrigins = new Set(rt.apis.map((a) => new URL(a).origin));
  let put: HttpResult = { kind: "network", refused: true };
  for (let i = 0; i < 4; i++) {
    put = await request(
      rt,
      u,
      (base) => {
        // Both APIs share the media directory and signing secret, so a URL signed by one API is
        // good on the other: a PUT goes to whichever this client reaches now.
        const to = new URL(url);
        if (!localOrigins.has(to.origin)) return url;
        const b = new URL(base);
        to.protocol = b.protocol;
        to.host = b.host;
        return to.toString();
      },
      { method: "PUT", headers: { ...(headers ?? { "content-type": "image/png" }) }, body: PNG },
      "PUT /media/files/:key",
      UPLOAD_TIMEOUT_MS,
    );
    // 409 upload_in_progress: an earlier PUT of ours may still be arriving.
    if (is2xx(put) || (put.kind === "answer" && put.status !== 409 && !retryable(put, true))) break;
    await sleep(backoff(rt, i));
  }
  const confirm = await apiRetry(
    rt,
    u,
    "POST",
    "/media/confirm",
    "POST /media/confirm",
    { upload_id },
    { attempts: 5 },
  );
  const media =
    confirm.kind === "answer" && confirm.status === 200 ? mediaBody.safeParse(confirm.body) : null;
  if (!media?.success) return record(upload_id, null);
  const got = await doSend(
    rt,
    u,
    {
      room_id: room.id,
      client_id: clientId,
      type: "image",
      media_id: media.data.media.id,
      text: `photo ${clientId}`,
    },
    transport,
  );
  record(media.data.media.id, got?.id ?? null);
}

// ---- setup ----

/** A setup call: retried on network errors, 429 and 5xx for up to a minute; anything else throws. */
async function setupCall(
  rt: Runtime,
  u: UserState,
  method: string,
  path: string,
  what: string,
  body: unknown,
  ok: number[],
): Promise<unknown> {
  const end = Date.now() + 60_000;
  for (let i = 0; ; i++) {
    const r = await api(rt, u, method, path, what, body);
    if (r.kind === "answer" && ok.includes(r.status)) return r.body;
    if (!retryable(r, true) || Date.now() > end) {
      throw new Error(
        `setup: ${method} ${path} as ${u.id}: ${r.kind === "answer" ? `HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}` : "network"}`,
      );
    }
    await sleep(
      r.kind === "answer" && r.retryAfterMs !== null ? Math.min(r.retryAfterMs, 5000) : backoff(rt, i),
    );
  }
}

async function inPool<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++];
        if (item !== undefined) await fn(item);
      }
    }),
  );
}

/** Distinct indices 0..n-1 but `not`, `k` of them (k ≤ n-1). */
function sample(rng: () => number, n: number, k: number, not: Set<number>): number[] {
  const out = new Set<number>();
  while (out.size < k && out.size + not.size < n) {
    const i = Math.floor(rng() * n);
    if (!not.has(i)) out.add(i);
  }
  return [...out];
}

/**
 * Users with tokens, rooms (direct pairs and groups of 3–30 with their creator as admin, so
 * every user is in several rooms), and per user two devices: a witness whose `/sync/messages`
 * cursor, taken after the rooms exist and before any workload, is the ledger's `firstCursor`
 * (never used again until the checks replay it: syncing would drop it), and the app device the
 * workload's catch-up syncs use.
 */
export async function setupWorkload(
  sys: WorkloadSystem,
  rng: () => number,
  opts: { users: number; log: Log },
): Promise<Ledger> {
  const log = opts.log;
  const n = Math.max(2, opts.users);
  const ledger: Ledger = {
    seed: 0,
    startedAt: Date.now(),
    endedAt: 0,
    users: [],
    rooms: [],
    sends: [],
    ops: [],
    failed: [],
    outcomes: [],
  };
  // A run tag keeps ids apart should a data directory ever be reused (devices are capped per user).
  const tag = Date.now().toString(36).slice(-5);
  const rt: Runtime = {
    apis: sys.apis,
    ledger,
    log,
    users: [],
    byId: new Map(),
    rooms: [],
    roomById: new Map(),
    messages: new Map(),
    ackedSends: [],
    failedIds: new Set(),
    failedClientIds: new Set(),
    newSeen: new Set(),
    nobodyOnline: new Set(),
    jitter: mulberry32(Math.floor(rng() * 2 ** 32)),
    closed: false,
    inFlight: 0,
    wake: null,
    anomalies: new Map(),
    stats: { connects: 0, connectErrors: 0, disconnects: 0, launched: {}, took: {} },
  };
  for (let i = 0; i < n; i++) {
    const id = `soak-${tag}-u${String(i).padStart(3, "0")}`;
    const u: UserState = {
      idx: i,
      id,
      token: signToken(sys.jwtSecret, id, { name: `Soak ${i}`, expiresInS: 7 * 86_400 }),
      transport: i % 2 === 0 ? "websocket" : "polling",
      restApi: Math.floor(rng() * sys.apis.length),
      socketApi: Math.floor(rng() * sys.apis.length),
      socket: null,
      connected: false,
      away: false,
      reconnectTimer: null,
      appDevice: `app-${id}`,
      roomsSince: null,
      messagesSince: null,
      syncTail: Promise.resolve(),
      syncQueued: 0,
      rooms: new Set(),
      own: [],
      sent: 0,
    };
    rt.users.push(u);
    rt.byId.set(id, u);
  }

  // The plan first (all from rng, so a seed gives the same rooms), then the calls.
  type RoomPlan =
    | { type: "direct"; a: number; b: number }
    | { type: "group"; creator: number; others: number[] };
  const plans: RoomPlan[] = [];
  const pairs = new Set<string>();
  for (let i = 0; i < n; i++) {
    const k = 1 + Math.floor(rng() * 2);
    for (const j of sample(rng, n, k, new Set([i]))) {
      const key = i < j ? `${i}|${j}` : `${j}|${i}`;
      if (pairs.has(key)) continue;
      pairs.add(key);
      plans.push({ type: "direct", a: i, b: j });
    }
  }
  if (n >= GROUP_MIN) {
    const groups: number[][] = [];
    const count = Math.max(2, Math.round(n / 5));
    for (let g = 0; g < count; g++) {
      const size = Math.min(n, GROUP_MIN + Math.floor(rng() ** 2 * (GROUP_MAX - GROUP_MIN + 1)));
      groups.push(sample(rng, n, size, new Set()));
    }
    // Everyone in at least two groups (where there is room).
    const inGroups = new Map<number, number>();
    for (const g of groups) for (const i of g) inGroups.set(i, (inGroups.get(i) ?? 0) + 1);
    for (let i = 0; i < n; i++) {
      for (let tries = 0; (inGroups.get(i) ?? 0) < 2 && tries < 20; tries++) {
        const g = pick(rng, groups);
        if (g && g.length < GROUP_MAX && !g.includes(i)) {
          g.push(i);
          inGroups.set(i, (inGroups.get(i) ?? 0) + 1);
        }
      }
    }
    for (const g of groups) {
      const [creator, ...others] = g;
      if (creator !== undefined) plans.push({ type: "group", creator, others });
    }
  }

  const userAt = (i: number): UserState => {
    const u = rt.users[i];
    if (!u) throw new Error(`no user ${i}`);
    return u;
  };
  let groupNo = 0;
  const planned = plans.map((p) => ({ p, name: p.type === "group" ? `soak group ${++groupNo}` : "" }));
  await inPool(planned, 8, async ({ p, name }) => {
    const actor = userAt(p.type === "direct" ? p.a : p.creator);
    const body =
      p.type === "direct"
        ? { type: "direct", member_id: userAt(p.b).id }
        : { type: "group", name, member_ids: p.others.map((i) => userAt(i).id) };
    const answer = roomBody.parse(
      await setupCall(rt, actor, "POST", "/rooms", "POST /rooms", body, [200, 201]),
    );
    if (rt.roomById.has(answer.room.id)) return;
    const expected =
      p.type === "direct" ? [actor.id, userAt(p.b).id] : [actor.id, ...p.others.map((i) => userAt(i).id)];
    const members = answer.room.members?.map((m) => m.user_id) ?? expected;
    const room: RoomState = {
      id: answer.room.id,
      type: answer.room.type,
      members: new Set(),
      admin: p.type === "group" ? actor.id : null,
      former: new Set(),
      known: [],
      lastSeq: 0,
      changing: false,
    };
    rt.rooms.push(room);
    rt.roomById.set(room.id, room);
    setMembers(rt, room, members);
    ledger.rooms.push({
      id: room.id,
      type: room.type,
      initialMembers: [...members].sort(),
    } satisfies SoakRoom);
  });
  // A stable order (creation ran concurrently): by id.
  rt.rooms.sort((a, b) => a.id.localeCompare(b.id));
  ledger.rooms.sort((a, b) => a.id.localeCompare(b.id));

  await inPool(rt.users, 10, async (u) => {
    // By index, not rng: this runs concurrently, so draws here would come in timing order.
    const platform = (["ios", "android", "desktop"] as const)[u.idx % 3];
    const witness = `witness-${u.id}`;
    // A push token, so the notify pool pushes to this user while it has no socket (pushes-once).
    await setupCall(
      rt,
      u,
      "POST",
      "/devices",
      "POST /devices",
      { device_id: witness, platform, push_token: `soak-token-${u.id}` },
      [200, 201],
    );
    await setupCall(
      rt,
      u,
      "POST",
      "/devices",
      "POST /devices",
      { device_id: u.appDevice, platform: "web" },
      [200, 201],
    );
    const q = new URLSearchParams({ device_id: witness });
    const first = cursorBody.parse(
      await setupCall(rt, u, "GET", `/sync/messages?${q}`, "GET /sync/messages", undefined, [200]),
    );
    ledger.users.push({
      id: u.id,
      token: u.token,
      devices: [{ device_id: witness, firstCursor: first.next_since }],
    } satisfies SoakUser);
  });
  ledger.users.sort((a, b) => a.id.localeCompare(b.id));
  const directs = rt.rooms.filter((r) => r.type === "direct").length;
  const perUser = rt.users.map((u) => u.rooms.size);
  log(
    `workload: ${n} users, ${directs} direct rooms, ${rt.rooms.length - directs} groups, ` +
      `rooms per user ${Math.min(...perUser)}–${Math.max(...perUser)}, devices registered and cursors taken`,
  );
  runtimes.set(ledger, rt);
  return ledger;
}

// ---- the run ----

function summary(rt: Runtime, elapsedS: number): string {
  const sends = rt.ledger.sends;
  const acked = sends.filter((s) => s.acked).length;
  let network = 0;
  let unavailable = 0;
  let fivexx = 0;
  for (const o of rt.ledger.outcomes) {
    if (o.result === "network") network++;
    else if (o.result === "503" || o.result === "ack-error:unavailable") unavailable++;
    else if (o.result.startsWith("5") || o.result === "ack-error:internal") fivexx++;
  }
  const connected = rt.users.filter((u) => u.connected).length;
  return (
    `workload +${elapsedS.toFixed(0)}s: ops ${rt.ledger.ops.length}, sends ${acked}/${sends.length} acked, ` +
    `in flight ${rt.inFlight}, sockets ${connected}/${rt.users.length}, network ${network}, 503 ${unavailable}, ` +
    `other 5xx ${fivexx}, message:failed ${rt.ledger.failed.length}`
  );
}

/**
 * Drives the workload for `ms`: about `rate` operations a second (default 100) with at most
 * `maxInFlight` (default 48) in flight, then waits (at most 45 s) for what is in flight, sets
 * `endedAt`, and closes the clients. Never throws.
 */
export async function runWorkload(
  sys: WorkloadSystem,
  ledger: Ledger,
  rng: () => number,
  opts: {
    ms: number;
    log: Log;
    rate?: number;
    maxInFlight?: number;
    weights?: Partial<Record<OpKind, number>>;
  },
): Promise<void> {
  const rt = runtimes.get(ledger);
  if (!rt) {
    opts.log("workload: this ledger was not made by setupWorkload in this process; nothing to run");
    ledger.endedAt = Date.now();
    return;
  }
  rt.apis = sys.apis;
  rt.log = opts.log;
  const rate = opts.rate ?? 100;
  const maxInFlight = opts.maxInFlight ?? 48;
  const weights: Record<OpKind, number> = { ...DEFAULT_WEIGHTS, ...opts.weights };
  const started = Date.now();
  ledger.startedAt = started;
  const end = started + opts.ms;

  // Connect everyone, a few at a time (each connect runs a first catch-up sync).
  for (const [i, u] of rt.users.entries()) {
    connectUser(rt, u);
    if (i % 20 === 19) await sleep(100);
  }
  await Promise.race([
    (async () => {
      while (rt.users.some((u) => !u.connected)) await sleep(100);
    })(),
    sleep(10_000),
  ]);
  opts.log(`workload: ${rt.users.filter((u) => u.connected).length}/${rt.users.length} sockets connected`);

  const tracked = new Set<Promise<void>>();
  const launch = (p: Planned) => {
    rt.inFlight++;
    rt.stats.launched[p.kind] = (rt.stats.launched[p.kind] ?? 0) + 1;
    const at = Date.now();
    const t: Promise<void> = execute(rt, p)
      .catch((err: unknown) => anomaly(rt, "workload bug", `${p.kind}: ${String(err)}`))
      .finally(() => {
        const took = rt.stats.took[p.kind] ?? { total: 0, max: 0 };
        took.total += Date.now() - at;
        took.max = Math.max(took.max, Date.now() - at);
        rt.stats.took[p.kind] = took;
        rt.inFlight--;
        tracked.delete(t);
        const w = rt.wake;
        rt.wake = null;
        w?.();
      });
    tracked.add(t);
  };

  const interval = 1000 / rate;
  let nextAt = Date.now();
  let nextReport = Date.now() + 15_000;
  while (Date.now() < end) {
    nextAt += interval;
    const now = Date.now();
    // Behind by more than a second (a long stall of this process): no burst to catch up.
    if (nextAt < now - 1000) nextAt = now;
    if (nextAt > now) await sleep(nextAt - now);
    while (rt.inFlight >= maxInFlight && Date.now() < end) {
      await new Promise<void>((r) => {
        rt.wake = r;
        setTimeout(r, 500);
      });
    }
    if (Date.now() >= end) break;
    try {
      const p = plan(rt, rng, weights);
      if (p) launch(p);
    } catch (err) {
      anomaly(rt, "workload bug", `plan: ${String(err)}`);
    }
    if (Date.now() >= nextReport) {
      nextReport += 15_000;
      opts.log(summary(rt, (Date.now() - started) / 1000));
    }
  }

  const drainUntil = Date.now() + DRAIN_MAX_MS;
  while (tracked.size > 0 && Date.now() < drainUntil) {
    await Promise.race([Promise.allSettled([...tracked]), sleep(1000)]);
  }
  if (tracked.size > 0)
    opts.log(`workload: ${tracked.size} operations still in flight after ${DRAIN_MAX_MS} ms`);
  ledger.endedAt = Date.now();
  // message:failed for the last sends may still be on its way.
  await sleep(2000);
  rt.closed = true;
  for (const u of rt.users) {
    if (u.reconnectTimer) clearTimeout(u.reconnectTimer);
    u.reconnectTimer = null;
    const s = u.socket;
    u.socket = null;
    u.connected = false;
    if (s) {
      closedByClient.add(s);
      s.close();
    }
  }
  opts.log(summary(rt, (Date.now() - started) / 1000));
  // Every acked message goes to its room's sockets: none of them seeing it, while a member was
  // connected at the ack, is a lost event (or a socket that dropped just then).
  const unseen = ledger.sends.filter(
    (x) => x.acked && !rt.newSeen.has(x.acked.message_id) && !rt.nobodyOnline.has(x.acked.message_id),
  );
  if (unseen.length > 0) {
    const eg = unseen.slice(0, 5).map((x) => `${x.acked?.message_id} (${x.transport}, room ${x.room_id})`);
    anomaly(rt, "message:new seen by no client", `${unseen.length} acked sends, e.g. ${eg.join(", ")}`);
  }
  const took = Object.entries(rt.stats.took).map(
    ([k, v]) => `${k} ${Math.round(v.total / (rt.stats.launched[k] ?? 1))}/${v.max}`,
  );
  opts.log(
    `workload: launched ${JSON.stringify(rt.stats.launched)}; ms in flight (mean/max) ${took.join(", ")}; ` +
      `socket connects ${rt.stats.connects}, ` +
      `connect errors ${rt.stats.connectErrors}, drops ${rt.stats.disconnects}; anomalies ${JSON.stringify(Object.fromEntries(rt.anomalies))}`,
  );
}
