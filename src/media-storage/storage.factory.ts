import path from "node:path";
import type { Config } from "../config/config.ts";
import { LocalMediaStorage } from "./local.storage.ts";
import type { MediaStorage } from "./media-storage.ts";
import { S3MediaStorage } from "./s3.storage.ts";
import { UrlSigner } from "./url-signer.ts";

export type Storage = { storage: MediaStorage; local: LocalMediaStorage | null; signer: UrlSigner | null };

/** The driver MEDIA_STORAGE names; the local one comes with the signer its routes verify with. */
export function createMediaStorage(config: Config): Storage {
  if (config.MEDIA_STORAGE === "s3") {
    // Config refuses MEDIA_STORAGE=s3 without these, so the fallbacks never apply.
    return {
      storage: new S3MediaStorage({
        endpoint: config.S3_ENDPOINT,
        region: config.S3_REGION,
        bucket: config.S3_BUCKET ?? "",
        accessKeyId: config.S3_ACCESS_KEY_ID ?? "",
        secretAccessKey: config.S3_SECRET_ACCESS_KEY ?? "",
        forcePathStyle: config.S3_FORCE_PATH_STYLE,
        publicUrl: config.S3_PUBLIC_URL,
      }),
      local: null,
      signer: null,
    };
  }
  const signer = new UrlSigner(config.mediaSigningSecret, config.publicUrl);
  const local = new LocalMediaStorage(path.join(config.DATA_DIR, "media"), signer, {
    putBodyTimeoutMs: config.MEDIA_PUT_BODY_TIMEOUT_S * 1000,
    minFreeBytes: config.MEDIA_MIN_FREE_BYTES,
  });
  return { storage: local, local, signer };
}
