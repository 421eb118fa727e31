import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.ts";
import { newId } from "../../src/kernel/ids.ts";
import { kindOf, verifiedType } from "../../src/media/media.kinds.ts";
import { uploadUrlSchema } from "../../src/media/media.schemas.ts";
import { attachment } from "../../src/media-storage/content-disposition.ts";
import { normalizeType } from "../../src/media-storage/content-type.ts";
import {
  gridExpiry,
  newObjectKeys,
  OBJECT_KEY_PATTERN,
  thumbKeyOf,
} from "../../src/media-storage/media-storage.ts";
import { UrlSigner } from "../../src/media-storage/url-signer.ts";
import { removeDir, tempDir } from "../helpers/env.ts";

describe("media kinds: the allow-list and the check of declared against real types", () => {
  it("maps allowed types to kinds, folds aliases and parameters, refuses the rest", () => {
    expect(kindOf("image/JPEG; charset=binary")).toBe("image");
    expect(kindOf("image/jpg")).toBe("image");
    expect(kindOf("video/quicktime")).toBe("video");
    expect(kindOf("audio/mp3")).toBe("audio");
    expect(kindOf("application/pdf")).toBe("file");
    for (const t of [
      "text/html",
      "image/svg+xml",
      "application/x-msdownload",
      "application/javascript",
      "",
    ]) {
      expect(kindOf(t), t).toBeNull();
    }
    expect(normalizeType(" Audio/X-WAV ")).toBe("audio/wav");
    // What file-type reports for real Matroska files, and the name clients often declare.
    expect(verifiedType("video/x-matroska", "video/matroska")).toBe("video/matroska");
    expect(attachment("a'(b)*.pdf")).toBe("attachment; filename*=UTF-8''a%27%28b%29%2A.pdf");
  });

  it("accepts bytes of the declared kind, refuses a lie, and takes the detected type", () => {
    expect(verifiedType("image/png", "image/jpeg")).toBe("image/jpeg");
    expect(verifiedType("image/jpeg", undefined)).toBeNull();
    expect(verifiedType("image/jpeg", "application/pdf")).toBeNull();
    expect(verifiedType("image/jpeg", "application/x-msdownload")).toBeNull();
    expect(verifiedType("video/mp4", "image/png")).toBeNull();
    // A photo sent as a document is fine; a text file has no signature.
    expect(verifiedType("application/pdf", "image/jpeg")).toBe("image/jpeg");
    expect(verifiedType("text/plain", undefined)).toBe("text/plain");
    expect(verifiedType("text/plain", "application/x-elf")).toBeNull();
    // Audio in an MP4 container is often detected as video/mp4.
    expect(verifiedType("audio/mp4", "video/mp4")).toBe("audio/mp4");
    expect(verifiedType("audio/ogg", "video/mp4")).toBe("audio/mp4");
    expect(kindOf("constructor")).toBeNull();
    expect(kindOf("__proto__")).toBeNull();
    expect(verifiedType("text/html", "text/html")).toBeNull();
  });

  it("file names carry no path or control characters", () => {
    const ok = { content_type: "image/jpeg", size: 1 };
    expect(uploadUrlSchema.safeParse({ ...ok, filename: "Photo 1.jpg" }).success).toBe(true);
    for (const filename of [
      "../x",
      "a/b",
      "a\\b",
      "a\nb",
      "",
      " ",
      "..",
      " ..",
      "\u2800",
      "\u2028",
      "\ud800",
      "invoice\u202efdp.exe",
    ]) {
      expect(uploadUrlSchema.safeParse({ ...ok, filename }).success, JSON.stringify(filename)).toBe(false);
    }
    expect(uploadUrlSchema.safeParse({ ...ok, filename: "a", size: 0 }).success).toBe(false);
    expect(uploadUrlSchema.safeParse({ ...ok, filename: "a", size: 1.5 }).success).toBe(false);
  });
});

describe("object keys and URL signatures", () => {
  it("keys are server-made, unguessable and of one strict format", () => {
    const id = newId();
    const a = newObjectKeys(id);
    const b = newObjectKeys(id);
    expect(a.upload).not.toBe(b.upload);
    for (const k of [a.upload, a.object, thumbKeyOf(a.object)]) expect(k).toMatch(OBJECT_KEY_PATTERN);
    expect(thumbKeyOf(a.object).slice(3)).toBe(a.object.slice(3));
    for (const bad of ["../etc", `ob-${id}-short`, `ob-${id}-${"a".repeat(22)}/x`]) {
      expect(OBJECT_KEY_PATTERN.test(bad), bad).toBe(false);
    }
  });

  it("every field of a grant is signed; expiry is checked; download URLs are stable within a window", () => {
    const signer = new UrlSigner("s".repeat(32), "http://h");
    const key = newObjectKeys(newId()).upload;
    const grant = { method: "PUT" as const, key, exp: 2_000_000_000, contentType: "image/png", maxSize: 10 };
    const q = Object.fromEntries(new URL(signer.url(grant)).searchParams);
    expect(signer.verify("PUT", key, q, Date.now())).toEqual({
      ok: true,
      grant: { ...grant, name: undefined },
    });
    expect(signer.verify("GET", key, q, Date.now())).toEqual({ ok: false, reason: "invalid" });
    expect(signer.verify("PUT", key, { ...q, max: "11" }, Date.now())).toEqual({
      ok: false,
      reason: "invalid",
    });
    expect(signer.verify("PUT", key, { ...q, max: "1e3" }, Date.now())).toEqual({
      ok: false,
      reason: "invalid",
    });
    expect(signer.verify("PUT", key, { ...q, ct: "image/gif" }, Date.now()).ok).toBe(false);
    expect(signer.verify("PUT", key, { ...q, name: "x" }, Date.now()).ok).toBe(false);
    expect(signer.verify("PUT", key, { ...q, sig: ["a", "b"] }, Date.now())).toEqual({
      ok: false,
      reason: "unsigned",
    });
    expect(signer.verify("PUT", key, q, 2_000_000_000_000)).toEqual({ ok: false, reason: "expired" });
    // One spelling per grant: padding, leading zeros and an empty name are refused, even signed.
    expect(signer.verify("PUT", key, { ...q, sig: `${q.sig}=` }, Date.now()).ok).toBe(false);
    expect(signer.verify("PUT", key, { ...q, exp: `0${q.exp}` }, Date.now()).ok).toBe(false);
    expect(signer.verify("PUT", key, { ...q, max: "010" }, Date.now()).ok).toBe(false);
    const named = {
      method: "GET" as const,
      key,
      exp: 2_000_000_000,
      contentType: "application/pdf",
      name: "",
    };
    const nq = Object.fromEntries(new URL(signer.url(named)).searchParams);
    expect(signer.verify("GET", key, nq, Date.now()).ok).toBe(false);
    const other = new UrlSigner("t".repeat(32), "http://h");
    expect(other.verify("PUT", key, q, Date.now()).ok).toBe(false);

    const t0 = gridExpiry(1_000_000_000, 3600);
    const t1 = gridExpiry(1_000_000_000 + 60_000, 3600);
    expect(t1).toEqual(t0);
    expect(t0.expiresAt.getTime() - 1_000_000_000).toBeGreaterThanOrEqual(3600_000);
  });
});

describe("media configuration", () => {
  const dir = tempDir("media-config");
  it("defaults to local storage with a generated signing secret; s3 and production need their settings", () => {
    const c = loadConfig({ DATA_DIR: dir });
    expect(c).toMatchObject({ MEDIA_STORAGE: "local", publicUrl: "http://localhost:3000" });
    expect(c.mediaSigningSecret.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig({ DATA_DIR: dir }).mediaSigningSecret).toBe(c.mediaSigningSecret);
    try {
      loadConfig({ DATA_DIR: dir, MEDIA_STORAGE: "s3" });
      expect.unreachable();
    } catch (err) {
      const problems = (err as ConfigError).problems.join("\n");
      for (const v of ["S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"])
        expect(problems).toContain(v);
    }
    expect(() => loadConfig({ DATA_DIR: dir, NODE_ENV: "production", JWT_SECRET: "j".repeat(32) })).toThrow(
      /PUBLIC_URL/,
    );
    expect(() => loadConfig({ DATA_DIR: dir, MEDIA_SIGNING_SECRET: "short" })).toThrow(ConfigError);
    removeDir(dir);
  });
});
