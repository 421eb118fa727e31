import type { Config } from "../../config/config.ts";
import type { Logger } from "../../observability/logger.ts";
import { FcmPushProvider } from "./fcm.provider.ts";
import { LogPushProvider } from "./log.provider.ts";
import type { PushProvider } from "./push-provider.ts";

/** The provider PUSH_PROVIDER names (config refuses `fcm` without its credentials). */
export function createPushProvider(config: Config, logger: Logger): PushProvider {
  if (config.PUSH_PROVIDER === "fcm")
    return FcmPushProvider.fromServiceAccount(config.FCM_SERVICE_ACCOUNT_JSON ?? "");
  return new LogPushProvider(logger);
}
