/** One push to one device. A push without a notification is silent (data only). */
export type Push = {
  token: string;
  /** For logs and idempotency: whose device it is. */
  user_id: string;
  device_id: string;
  notification: { title: string; body: string } | null;
  data: Record<string, string>;
  /** Pushes with one key replace each other on the device (one per room). */
  collapse_key: string;
};

/** What became of a push: delivered to the provider, the token is dead (drop it), or try again later. */
export type PushOutcome = "sent" | "dead" | "retry";

/** A push provider: `log` (default) or `fcm`. Outcomes come back in the order of the pushes. */
export interface PushProvider {
  send(pushes: Push[]): Promise<PushOutcome[]>;
  close(): Promise<void>;
}
