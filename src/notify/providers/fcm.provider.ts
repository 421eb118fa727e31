import { randomBytes } from "node:crypto";
import { type App, type Credential, cert, deleteApp, initializeApp } from "firebase-admin/app";
import { getMessaging, type Message, type Messaging } from "firebase-admin/messaging";
import { z } from "zod";
import type { Push, PushOutcome, PushProvider } from "./push-provider.ts";

/** FCM takes at most 500 messages per sendEach. */
const FCM_BATCH = 500;

/** Errors that condemn the token itself: the app was uninstalled, or the token is malformed. */
const DEAD = new Set([
  "messaging/registration-token-not-registered",
  "messaging/invalid-registration-token",
  "messaging/invalid-argument",
]);

const serviceAccountSchema = z.object({
  project_id: z.string().min(1),
  client_email: z.string().min(1),
  private_key: z.string().min(1),
});

/** One push as an FCM message: collapsing per room on Android, iOS and the web. */
function toFcmMessage(p: Push): Message {
  return {
    token: p.token,
    data: p.data,
    ...(p.notification ? { notification: p.notification } : {}),
    android: { collapseKey: p.collapse_key, priority: p.notification ? "high" : "normal" },
    apns: {
      headers: {
        "apns-collapse-id": p.collapse_key,
        ...(p.notification ? {} : { "apns-push-type": "background", "apns-priority": "5" }),
      },
      payload: { aps: p.notification ? { "thread-id": p.collapse_key } : { "content-available": 1 } },
    },
    webpush: { headers: { Topic: p.collapse_key.slice(0, 32) } },
  };
}

/**
 * Firebase Cloud Messaging through firebase-admin: `sendEach` in batches of at most 500 (over
 * HTTP/2). Per token: success is "sent"; a token FCM condemns (unregistered, invalid) is
 * "dead" and gets removed; anything else (unavailable, quota, internal) is "retry".
 */
export class FcmPushProvider implements PushProvider {
  readonly #app: App;
  readonly #messaging: Messaging;

  constructor(options: { projectId: string; credential: Credential }) {
    // A named app per provider, so tests and several pools in one process never collide.
    this.#app = initializeApp(
      { projectId: options.projectId, credential: options.credential },
      `chat-push-${randomBytes(4).toString("hex")}`,
    );
    this.#messaging = getMessaging(this.#app);
  }

  /** From FCM_SERVICE_ACCOUNT_JSON (the service account file's content). */
  static fromServiceAccount(json: string): FcmPushProvider {
    const account = serviceAccountSchema.parse(JSON.parse(json));
    return new FcmPushProvider({
      projectId: account.project_id,
      credential: cert({
        projectId: account.project_id,
        clientEmail: account.client_email,
        privateKey: account.private_key.replace(/\\n/g, "\n"),
      }),
    });
  }

  async send(pushes: Push[]): Promise<PushOutcome[]> {
    const outcomes: PushOutcome[] = [];
    for (let i = 0; i < pushes.length; i += FCM_BATCH) {
      const batch = pushes.slice(i, i + FCM_BATCH);
      const res = await this.#messaging.sendEach(batch.map(toFcmMessage));
      for (const r of res.responses) {
        outcomes.push(r.success ? "sent" : r.error && DEAD.has(r.error.code) ? "dead" : "retry");
      }
    }
    return outcomes;
  }

  async close(): Promise<void> {
    await deleteApp(this.#app);
  }
}
