import { createHmac, timingSafeEqual } from "node:crypto";

/** What a signed local media URL allows: one method on one key, until `exp` (seconds). */
export type UrlGrant = {
  method: "PUT" | "GET";
  key: string;
  exp: number;
  contentType: string;
  /** PUT: the largest body accepted. */
  maxSize?: number | undefined;
  /** GET: served as an attachment with this name. */
  name?: string | undefined;
};

export type VerifyResult =
  | { ok: true; grant: UrlGrant }
  | { ok: false; reason: "unsigned" | "invalid" | "expired" };

/**
 * HMAC-SHA256 over every field of the grant, so changing any of them (the key, the method, the
 * type, the size, the expiry, the download name) invalidates the URL.
 */
export class UrlSigner {
  readonly #secret: string;
  readonly #base: string;
  constructor(secret: string, publicUrl: string) {
    this.#secret = secret;
    this.#base = publicUrl;
  }

  #mac(g: UrlGrant): Buffer {
    const payload = [g.method, g.key, g.exp, g.contentType, g.maxSize ?? "", g.name ?? ""].join("\n");
    return createHmac("sha256", this.#secret).update(payload).digest();
  }

  url(g: UrlGrant): string {
    const q = new URLSearchParams({ exp: String(g.exp), ct: g.contentType });
    if (g.maxSize !== undefined) q.set("max", String(g.maxSize));
    if (g.name !== undefined) q.set("name", g.name);
    q.set("sig", this.#mac(g).toString("base64url"));
    return `${this.#base}${LOCAL_FILES_PATH}/${g.key}?${q}`;
  }

  verify(method: "PUT" | "GET", key: string, query: Record<string, unknown>, nowMs: number): VerifyResult {
    const { exp, ct, max, name, sig } = query;
    if (typeof sig !== "string" || typeof exp !== "string" || typeof ct !== "string") {
      return { ok: false, reason: "unsigned" };
    }
    // One spelling per grant: no leading zeros, no padding, no empty name.
    if (
      !/^[A-Za-z0-9_-]{43}$/.test(sig) ||
      !/^[1-9]\d{0,11}$/.test(exp) ||
      (max !== undefined && (typeof max !== "string" || !/^[1-9]\d{0,14}$/.test(max))) ||
      (name !== undefined && (typeof name !== "string" || name === ""))
    ) {
      return { ok: false, reason: "invalid" };
    }
    const grant: UrlGrant = {
      method,
      key,
      exp: Number(exp),
      contentType: ct,
      maxSize: max === undefined ? undefined : Number(max),
      name,
    };
    const given = Buffer.from(sig, "base64url");
    const expected = this.#mac(grant);
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { ok: false, reason: "invalid" };
    if (grant.exp * 1000 <= nowMs) return { ok: false, reason: "expired" };
    return { ok: true, grant };
  }
}

/** Where the API serves local media objects (outside /api/v1/chat: the URL is the credential). */
export const LOCAL_FILES_PATH = "/media/files";
