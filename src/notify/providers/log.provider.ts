import { createHash } from "node:crypto";
import type { Logger } from "../../observability/logger.ts";
import type { Push, PushOutcome, PushProvider } from "./push-provider.ts";

/**
 * The default provider: records each push in the notify pool's log instead of sending it,
 * so a system without Firebase credentials shows what it would push. Never the text or the
 * token (a short hash of it), as for every log line.
 */
export class LogPushProvider implements PushProvider {
  readonly #logger: Logger;
  constructor(logger: Logger) {
    this.#logger = logger;
  }

  async send(pushes: Push[]): Promise<PushOutcome[]> {
    for (const p of pushes) {
      this.#logger.info(
        {
          push: {
            user_id: p.user_id,
            device_id: p.device_id,
            token_hash: createHash("sha256").update(p.token).digest("hex").slice(0, 12),
            silent: p.notification === null,
            collapse_key: p.collapse_key,
            ...p.data,
          },
        },
        "push",
      );
    }
    return pushes.map(() => "sent");
  }

  async close(): Promise<void> {}
}
