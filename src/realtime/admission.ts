import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter } from "prom-client";
import { AppError } from "../kernel/errors.ts";
import { registry } from "../observability/metrics.ts";
import type { ChatServer } from "./socket.server.ts";

const shed = new Counter({
  name: "chat_socket_handshakes_shed_total",
  help: "New Socket.IO sessions refused with 503 + Retry-After (too many handshakes under way, or handshakes slow)",
  labelNames: ["reason"] as const,
  registers: [registry],
});

export type AdmissionLimits = {
  /** New sessions admitted and not yet decided (auth, room joins) at most. */
  maxHandshakes: number;
  /** New sessions are refused while recent handshakes took longer than this (and some are under way). */
  slowHandshakeMs: number;
  /** What the 503 tells a client to wait. */
  retryAfterS: number;
};

/**
 * The longest a handshake counts as under way: an honest client asks for its namespace one
 * round trip after the engine handshake, and one that never does holds a place no longer.
 */
const HANDSHAKE_MAX_MS = 10_000;

/**
 * Load shedding for reconnect storms. When every client of a node comes back at once, taking
 * them all makes each wait behind the others (their syncs included) until their connect times
 * out (20 s in socket.io-client) and they try again: the work done for them is lost and the
 * storm lasts longer. So a new session is refused at once, before any work, with 503 and
 * `Retry-After`, while `maxHandshakes` are under way, or while handshakes take longer than
 * `slowHandshakeMs` from first request to the server's decision (a queue is building: the
 * time, not the count, is what makes clients give up, as in CoDel); the client's reconnection
 * (randomised backoff) brings it back. Sessions already open are never touched. A handshake is
 * under way from its first request until the server has decided it (auth and room joins done:
 * `settle`), its connection closed, or `HANDSHAKE_MAX_MS`.
 */
export class SocketAdmission {
  readonly #limits: AdmissionLimits;
  #underWay = 0;
  /** Recent handshake time (decided ones), smoothed; forgotten once none is under way. */
  #handshakeMs = 0;
  /** Admitted handshakes by their first request (the one the server's socket keeps). */
  readonly #pending = new WeakMap<
    IncomingMessage,
    { settled: (decided: boolean) => void; watch: (session: Closable) => void }
  >();

  constructor(limits: AdmissionLimits) {
    this.#limits = limits;
  }

  /** Handshakes admitted and not yet settled. */
  get underWay(): number {
    return this.#underWay;
  }

  /** A release for an admitted handshake (idempotent; `decided` when the server decided it), or why it is refused. */
  admit(): { release: (decided?: boolean) => void } | { refused: "handshakes" | "slow" } {
    if (this.#underWay >= this.#limits.maxHandshakes) return { refused: "handshakes" };
    if (this.#underWay > 0 && this.#handshakeMs > this.#limits.slowHandshakeMs) return { refused: "slow" };
    this.#underWay++;
    const started = performance.now();
    let done = false;
    const release = (decided = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.#underWay--;
      if (decided) this.#handshakeMs = (this.#handshakeMs + (performance.now() - started)) / 2;
      if (this.#underWay === 0) this.#handshakeMs = 0;
    };
    const timer = setTimeout(release, HANDSHAKE_MAX_MS);
    timer.unref();
    return { release };
  }

  /**
   * Puts the admission in front of the server's new sessions (engine.io middleware: it runs
   * before the handshake, on both transports); call after `io.attach`.
   */
  guard(io: ChatServer): void {
    io.engine.use((req: IncomingMessage, res: ServerResponse, next: (err?: Error) => void) => {
      // Requests of an open session (polling, or its upgrade) carry its sid.
      if (new URL(req.url ?? "/", "http://x").searchParams.has("sid")) return next();
      const decision = this.admit();
      if ("refused" in decision) {
        shed.inc({ reason: decision.refused });
        return refuse(req, res, this.#limits.retryAfterS);
      }
      // Until the engine session exists, its fate is the request's connection; then the
      // session's own (a polling client's next request may come on another connection).
      let watched: Closable = req.socket;
      const onClose = () => settled(false);
      const settled = (decided: boolean) => {
        watched.off("close", onClose);
        this.#pending.delete(req);
        decision.release(decided);
      };
      req.socket.once("close", onClose);
      this.#pending.set(req, {
        settled,
        watch: (session) => {
          watched.off("close", onClose);
          watched = session;
          session.once("close", onClose);
        },
      });
      next();
    });
    io.engine.on("connection", (session: Closable & { request: IncomingMessage }) => {
      this.#pending.get(session.request)?.watch(session);
    });
    io.engine.on("connection_error", (err: { req?: IncomingMessage }) => {
      if (err.req) this.settle(err.req);
    });
  }

  /** The server decided this session (connected, or refused by auth or a failed join): its place is free. */
  settle(req: IncomingMessage): void {
    this.#pending.get(req)?.settled(true);
  }
}

/** A connection or an engine session: what a handshake under way watches for its end. */
type Closable = {
  once(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
};

const BODY = JSON.stringify(new AppError("unavailable", "server busy; retry").toBody());

/** 503 with Retry-After: an HTTP answer for a polling handshake, raw on the socket for an upgrade. */
function refuse(req: IncomingMessage, res: ServerResponse, retryAfterS: number): void {
  if (req.headers.upgrade) {
    req.socket.end(
      `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${retryAfterS}\r\nConnection: close\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n${BODY}`,
    );
    return;
  }
  res.writeHead(503, {
    "Retry-After": String(retryAfterS),
    "Content-Type": "application/json",
    Connection: "close",
  });
  res.end(BODY);
}
