import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FcmPushProvider } from "../../src/notify/providers/fcm.provider.ts";
import type { Push } from "../../src/notify/providers/push-provider.ts";
import { removeDir } from "../helpers/env.ts";

/**
 * The FCM provider at its HTTP boundary: the real firebase-admin `sendEach` (HTTP/2) against a
 * local HTTP/2 TLS server that answers as FCM's v1 API does. firebase-admin dials the fixed
 * host fcm.googleapis.com; the test points that session at the local server (with its
 * self-signed certificate) and normalises the `:scheme` pseudo-header, which firebase-admin
 * sends as "https:" and Node's server would refuse.
 */
const dir = mkdtempSync(path.join(tmpdir(), "chat-fcm-"));
const keyFile = path.join(dir, "key.pem");
const certFile = path.join(dir, "cert.pem");
execFileSync(
  "openssl",
  [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    certFile,
    "-subj",
    "/CN=fcm.googleapis.com",
    "-days",
    "1",
  ],
  { stdio: "pipe" },
);
const cert = readFileSync(certFile);

type Seen = {
  path: string;
  auth: string;
  message: {
    token: string;
    android?: { collapse_key?: string };
    notification?: unknown;
    data?: Record<string, string>;
  };
};
const seen: Seen[] = [];
const fcmError = (status: number, grpc: string, errorCode?: string) => ({
  error: {
    code: status,
    message: grpc,
    status: grpc,
    ...(errorCode
      ? { details: [{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", errorCode }] }
      : {}),
  },
});

const server = http2.createSecureServer({ key: readFileSync(keyFile), cert });
server.on("stream", (stream, headers) => {
  let body = "";
  stream.on("data", (c: Buffer) => {
    body += c.toString();
  });
  stream.on("end", () => {
    const { message } = JSON.parse(body) as { message: Seen["message"] };
    seen.push({ path: String(headers[":path"]), auth: String(headers.authorization), message });
    const [status, payload] = message.token.startsWith("dead")
      ? [404, fcmError(404, "NOT_FOUND", "UNREGISTERED")]
      : message.token.startsWith("bad")
        ? [400, fcmError(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT")]
        : message.token.startsWith("busy")
          ? [503, fcmError(503, "UNAVAILABLE", "UNAVAILABLE")]
          : [200, { name: `projects/demo/messages/${seen.length}` }];
    stream.respond({ ":status": status, "content-type": "application/json" });
    stream.end(JSON.stringify(payload));
  });
});

const realConnect = http2.connect;
beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  (http2 as { connect: unknown }).connect = (
    _authority: string,
    options: http2.SecureClientSessionOptions,
  ) => {
    const session = realConnect(`https://127.0.0.1:${port}`, {
      ...options,
      ca: cert,
      servername: "fcm.googleapis.com",
    });
    const request = session.request.bind(session);
    session.request = (h?: http2.OutgoingHttpHeaders, o?: http2.ClientSessionRequestOptions) =>
      request({ ...h, ":scheme": "https" }, o);
    return session;
  };
});
afterAll(async () => {
  (http2 as { connect: unknown }).connect = realConnect;
  await new Promise((r) => server.close(r));
  removeDir(dir);
});

const push = (token: string, silent = false): Push => ({
  token,
  user_id: "u",
  device_id: "d",
  notification: silent ? null : { title: "New message", body: "hi" },
  data: { type: silent ? "clear" : "message", room_id: "R1" },
  collapse_key: "R1",
});

describe("FCM provider over HTTP/2", () => {
  // A fixed access token: no OAuth call leaves the machine.
  const provider = () =>
    new FcmPushProvider({
      projectId: "demo",
      credential: { getAccessToken: async () => ({ access_token: "test-access-token", expires_in: 3600 }) },
    });

  it("sends each push with its collapse key; success is sent, UNREGISTERED and INVALID_ARGUMENT are dead, UNAVAILABLE is retry", async () => {
    seen.length = 0;
    const p = provider();
    try {
      const outcomes = await p.send([
        push("ok-1"),
        push("dead-1"),
        push("bad-1"),
        push("busy-1"),
        push("ok-2", true),
      ]);
      expect(outcomes).toEqual(["sent", "dead", "dead", "retry", "sent"]);
    } finally {
      await p.close();
    }
    const ok = seen.find((s) => s.message.token === "ok-1");
    expect(ok?.path).toBe("/v1/projects/demo/messages:send");
    expect(ok?.auth).toBe("Bearer test-access-token");
    expect(ok?.message).toMatchObject({
      notification: { title: "New message", body: "hi" },
      android: { collapse_key: "R1" },
      data: { type: "message", room_id: "R1" },
    });
    const silent = seen.find((s) => s.message.token === "ok-2");
    expect(silent?.message.notification).toBeUndefined();
    expect(silent?.message.data?.type).toBe("clear");
  });

  it("splits more than 500 pushes into batches and keeps the outcomes in order", async () => {
    seen.length = 0;
    const p = provider();
    try {
      const pushes = Array.from({ length: 620 }, (_, i) => push(i % 100 === 7 ? `dead-${i}` : `ok-${i}`));
      const outcomes = await p.send(pushes);
      expect(outcomes).toHaveLength(620);
      expect(outcomes).toEqual(pushes.map((_, i) => (i % 100 === 7 ? "dead" : "sent")));
      expect(seen).toHaveLength(620);
    } finally {
      await p.close();
    }
  });
});
