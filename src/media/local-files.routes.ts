import { type Request, type Response, Router } from "express";
import { z } from "zod";
import { route } from "../http/route.ts";
import { AppError } from "../kernel/errors.ts";
import { attachment } from "../media-storage/content-disposition.ts";
import { normalizeType } from "../media-storage/content-type.ts";
import {
  type LocalMediaStorage,
  UploadInProgressError,
  UploadTimeoutError,
  UploadTooLargeError,
} from "../media-storage/local.storage.ts";
import { OBJECT_KEY_PATTERN, StorageUnavailableError } from "../media-storage/media-storage.ts";
import { LOCAL_FILES_PATH, type UrlGrant, type UrlSigner } from "../media-storage/url-signer.ts";

/** The signed URL's parts as the OpenAPI document shows them (UrlSigner checks them, with its own rules). */
const keyParamsSchema = z.object({ key: z.string().regex(OBJECT_KEY_PATTERN) });
const signedQuerySchema = z.object({
  exp: z.string().describe("expiry, Unix seconds"),
  ct: z.string().describe("the content type the URL is bound to"),
  max: z.string().optional().describe("PUT: the largest body accepted"),
  name: z.string().optional().describe("GET: served as an attachment with this name"),
  sig: z.string().describe("HMAC-SHA256 of the grant, base64url"),
});

/**
 * What the PUT and the GET of a signed URL share in the route registry. The handlers check the
 * raw URL (grantOf): any bad part is 403, never a 400 from the schemas.
 */
const signedUrlRoute = {
  path: `${LOCAL_FILES_PATH}/:key`,
  tag: "media",
  access: "signed-url",
  params: keyParamsSchema,
  query: signedQuerySchema,
  rawInput: true,
  status: 200,
} as const;

const REFUSED = {
  unsigned: "this URL is not signed",
  invalid: "the URL's signature does not match",
  expired: "the URL has expired",
} as const;

/** The URL is the credential: a bad one is 403 whatever the key, so nothing leaks about keys. */
function grantOf(signer: UrlSigner, method: "PUT" | "GET", req: Request): UrlGrant {
  const key = String(req.params.key);
  if (!OBJECT_KEY_PATTERN.test(key)) throw new AppError("forbidden", REFUSED.invalid);
  const result = signer.verify(method, key, req.query as Record<string, unknown>, Date.now());
  if (!result.ok) throw new AppError("forbidden", REFUSED[result.reason]);
  return result.grant;
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`: one range, or null (serve everything) when absent or unusable. */
function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) return "unsatisfiable";
  return { start, end };
}

/**
 * What a failed PUT answers; a body left unread closes the connection after the answer. The
 * write never destroys the request, so our refusals (told apart by type, a full disk
 * included) can still be answered, and a destroyed request means the client went away or
 * shutdown cut it: nothing was stored, nothing to log.
 */
function uploadRefusal(err: unknown, req: Request, res: Response, max: number): unknown {
  if (!req.complete && !res.headersSent) res.setHeader("Connection", "close");
  if (err instanceof UploadInProgressError) {
    return new AppError("conflict", "another upload to this URL is in progress; PUT again once it ends", {
      reason: "upload_in_progress",
    });
  }
  if (err instanceof UploadTooLargeError) {
    return new AppError("payload_too_large", `this URL takes at most ${max} bytes`, { max_bytes: max });
  }
  if (err instanceof UploadTimeoutError) {
    return new AppError("request_timeout", "the body did not arrive in time; PUT it again", {
      reason: "body_timeout",
    });
  }
  if (err instanceof StorageUnavailableError) return err;
  if (req.destroyed) return new AppError("invalid_request", "the upload was interrupted; PUT it again");
  return err;
}

const INLINE_KINDS = /^(image|video|audio)\//;

/**
 * PUT and GET of local media objects at signed URLs (the `local` driver's half of what S3
 * does). No bearer token: the signature binds key, method, type, size and expiry.
 */
export function localFilesRoutes(
  storage: LocalMediaStorage,
  signer: UrlSigner,
): { router: Router; abortUploads(): void } {
  const router = Router();
  // Uploads in flight, cut at shutdown: a slow client must not hold the process (it PUTs again).
  const uploads = new Set<Request>();

  route(
    router,
    "",
    {
      ...signedUrlRoute,
      method: "put",
      summary: "Upload a file to a signed URL (local storage)",
      response: null,
      errors: [
        "forbidden",
        "request_timeout",
        "conflict",
        "payload_too_large",
        "unsupported_media_type",
        "unavailable",
      ],
    },
    async (_input, req, res) => {
      const grant = grantOf(signer, "PUT", req);
      const max = grant.maxSize ?? 0;
      const declared = req.headers["content-type"];
      if (!declared || normalizeType(declared) !== normalizeType(grant.contentType)) {
        throw new AppError("unsupported_media_type", `this URL takes ${grant.contentType} only`);
      }
      const length = req.headers["content-length"];
      if (length !== undefined && Number(length) > max) {
        throw new AppError("payload_too_large", `this URL takes at most ${max} bytes`, { max_bytes: max });
      }
      uploads.add(req);
      try {
        await storage.write(grant.key, req, max);
      } catch (err) {
        throw uploadRefusal(err, req, res, max);
      } finally {
        uploads.delete(req);
      }
      res.status(200).end();
    },
  );

  route(
    router,
    "",
    {
      ...signedUrlRoute,
      method: "get",
      summary: "Download a file at a signed URL (local storage)",
      // 206 for a Range request.
      status: [200, 206],
      produces: "*/*",
      errors: ["forbidden", "not_found", "range_not_satisfiable"],
    },
    async (_input, req, res) => {
      const grant = grantOf(signer, "GET", req);
      const found = await storage.stat(grant.key);
      if (!found) throw new AppError("not_found", "no such object");
      const range = parseRange(req.headers.range, found.size);
      if (range === "unsatisfiable") {
        res.setHeader("Content-Range", `bytes */${found.size}`);
        throw new AppError("range_not_satisfiable", `the file has ${found.size} bytes`);
      }
      const maxAge = Math.max(0, grant.exp - Math.floor(Date.now() / 1000));
      res.setHeader("Content-Type", grant.contentType);
      res.setHeader("Cache-Control", `private, max-age=${maxAge}, immutable`);
      res.setHeader("Accept-Ranges", "bytes");
      // Another origin's web client may show these in <img>/<video>; the signature is the guard.
      res.setHeader("Cross-Origin-Resource-Policy", "cross-origin");
      res.setHeader("Content-Security-Policy", "default-src 'none'; sandbox");
      const inline = INLINE_KINDS.test(grant.contentType) && grant.name === undefined;
      res.setHeader("Content-Disposition", inline ? "inline" : attachment(grant.name ?? grant.key));
      if (range) {
        res.status(206);
        res.setHeader("Content-Range", `bytes ${range.start}-${range.end}/${found.size}`);
        res.setHeader("Content-Length", String(range.end - range.start + 1));
      } else {
        res.setHeader("Content-Length", String(found.size));
      }
      if (req.method === "HEAD") {
        res.end();
        return;
      }
      const stream = storage.read(grant.key, range ?? undefined);
      stream.on("error", (err) => res.destroy(err));
      stream.pipe(res);
    },
  );

  return {
    router,
    abortUploads: () => {
      for (const req of uploads) req.destroy();
    },
  };
}
