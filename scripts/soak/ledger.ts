/**
 * What the soak's clients did and saw, as the checks read it (scripts/soak/checks.ts). The
 * workload (workload.ts) writes it; nothing in it is trusted from the server beyond what a
 * client was told: an answer, an ack, an event.
 */

/** A user of the soak: a token for REST and sockets, and the devices it syncs from. */
export type SoakUser = {
  id: string;
  token: string;
  devices: SoakDevice[];
};

type SoakDevice = {
  device_id: string;
  /**
   * The `/sync/messages` cursor this device held before the workload began (null: it syncs from
   * the beginning). Replaying from it at the end must give every change it may see, once.
   */
  firstCursor: string | null;
};

export type SoakRoom = {
  id: string;
  type: "direct" | "group";
  /** Members at the start. */
  initialMembers: string[];
};

/** One logical send: the same client_id on every attempt (retries after errors or timeouts). */
export type SendRecord = {
  room_id: string;
  user_id: string;
  client_id: string;
  transport: "rest" | "socket";
  /** Attempts made (1 = no retry). */
  attempts: number;
  /** What an acknowledging attempt answered (2xx or ack ok); null when none did. */
  acked: { message_id: string; seq: number } | null;
  /** Every distinct message id an attempt was answered with: more than one is a violation. */
  answeredIds: string[];
  /** When the last attempt ended (ms since epoch). */
  at: number;
};

/** An operation on a message or room; `acked` when the server answered 2xx (or the ack was ok). */
export type OpRecord =
  | {
      kind: "edit";
      user_id: string;
      message_id: string;
      room_id: string;
      text: string;
      acked: boolean;
      at: number;
    }
  | { kind: "delete"; user_id: string; message_id: string; room_id: string; acked: boolean; at: number }
  | {
      kind: "react";
      user_id: string;
      message_id: string;
      room_id: string;
      /** null removes the user's reaction. */
      emoji: string | null;
      acked: boolean;
      at: number;
    }
  | {
      kind: "star";
      user_id: string;
      message_id: string;
      room_id: string;
      starred: boolean;
      acked: boolean;
      at: number;
    }
  | { kind: "read"; user_id: string; room_id: string; seq: number; acked: boolean; at: number }
  | { kind: "add"; user_id: string; room_id: string; target_id: string; acked: boolean; at: number }
  | { kind: "remove"; user_id: string; room_id: string; target_id: string; acked: boolean; at: number }
  | {
      kind: "forward";
      user_id: string;
      message_id: string;
      room_ids: string[];
      /** The forward's id as answered (202), used for the copies' client ids. */
      forward_id: string | null;
      acked: boolean;
      at: number;
    }
  | {
      kind: "media";
      user_id: string;
      room_id: string;
      media_id: string;
      message_id: string | null;
      acked: boolean;
      at: number;
    }
  | { kind: "sync"; user_id: string; device_id: string; acked: boolean; at: number };

/** `message:failed` as a client received it: the message was rolled back, announced. */
type FailedEvent = {
  message_id: string;
  room_id: string;
  client_id: string;
  reason: string;
  at: number;
};

/** Every HTTP answer and socket ack by outcome, for the "no 5xx but 503 while down" check. */
type Outcome = {
  /** e.g. "POST /rooms/:room_id/messages" or "socket message:send". */
  what: string;
  /**
   * HTTP status, or "ack-ok" / "ack-error:<code>", or "network" (connection refused or reset, a
   * socket cut off), or "timeout" (no answer within the client's timeout).
   */
  result: string;
  at: number;
};

export type Ledger = {
  seed: number;
  startedAt: number;
  /** When the workload stopped issuing operations. */
  endedAt: number;
  users: SoakUser[];
  rooms: SoakRoom[];
  sends: SendRecord[];
  ops: OpRecord[];
  failed: FailedEvent[];
  outcomes: Outcome[];
};

/** A fault the chaos loop injected, for the report and for replay. */
export type Fault = {
  at: number;
  kind: "kill" | "stall-store";
  /** The process killed ("api-0", "api-1", "pool-persist", ...), or "sqlite" for a stall. */
  target: string;
  /** Stall length, or how long until the killed process answered again. */
  ms: number;
};

/** One invariant's verdict. */
export type CheckResult = {
  name: string;
  /** What was checked (messages, devices, ...). */
  checked: number;
  violations: string[];
};
