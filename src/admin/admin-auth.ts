import { createHash, randomBytes } from "node:crypto";
import { parseCookie, stringifySetCookie } from "cookie";
import type { NextFunction, Request, Response } from "express";
import { z } from "zod";
import { bearerToken } from "../auth/auth.middleware.ts";
import { AuthError, type AuthUser, type TokenVerifier } from "../auth/jwt.ts";
import { AppError } from "../kernel/errors.ts";
import type { Keys, RedisClient } from "../redis/redis.ts";

const COOKIE = "chat_board";
/** A board session lasts at most this long (and never past the admin token it came from). */
const BOARD_SESSION_MAX_S = 3600;
/** 32 random bytes, base64url: the cookie holds nothing but this. */
const sessionId = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

/**
 * The browser's Bull Board sessions, kept in Redis: the cookie is a random id that opens the
 * board and nothing else (not /metrics, not the API), and every API node finds it whatever
 * the JWT keys (RS256 deployments share no secret to sign a cookie with). Redis holds the id's
 * SHA-256, so a copy of Redis' data opens no board.
 */
export class BoardSessions {
  readonly #redis: RedisClient;
  readonly #keys: Keys;
  constructor(redis: RedisClient, keys: Keys) {
    this.#redis = redis;
    this.#keys = keys;
  }

  /** A session for this admin, ending with their token or after BOARD_SESSION_MAX_S. */
  async open(admin: AuthUser): Promise<{ id: string; maxAgeS: number }> {
    const ttlMs = Math.min(admin.expiresAt - Date.now(), BOARD_SESSION_MAX_S * 1000);
    if (ttlMs < 1000) throw new AppError("unauthenticated", "the token expires too soon; use a fresh one");
    const id = randomBytes(32).toString("base64url");
    await this.#redis.set(this.#key(id), admin.id, "PX", ttlMs);
    return { id, maxAgeS: Math.floor(ttlMs / 1000) };
  }

  /** Whether the cookie's session is one we opened and has not expired. */
  async valid(cookie: string): Promise<boolean> {
    const id = sessionId.safeParse(cookie);
    if (!id.success) return false;
    return (await this.#redis.exists(this.#key(id.data))) === 1;
  }

  #key(id: string): string {
    return this.#keys.boardSession(createHash("sha256").update(id).digest("hex"));
  }
}

/**
 * Operator pages (Bull Board) for admins only: `Authorization: Bearer` with `roles: ["admin"]`
 * (scripts), or, in a browser, `?token=` once: the admin JWT is checked and exchanged for a
 * board session (BoardSessions) in an HttpOnly, SameSite=Strict cookie scoped to `basePath`,
 * and a redirect drops the token from the URL (so it stays out of history, bookmarks and
 * Referer). The JWT never reaches the cookie. No token or session: 401; a bad or tampered one,
 * or an expired session: 401; a valid non-admin: 403.
 */
export function adminAuth(
  verifier: TokenVerifier,
  sessions: BoardSessions,
  basePath: string,
  secureCookie: boolean,
) {
  const check = (token: string): AuthUser => {
    let user: AuthUser;
    try {
      user = verifier.verify(token);
    } catch (err) {
      throw err instanceof AuthError ? new AppError("unauthenticated", err.message) : err;
    }
    if (!user.admin) throw new AppError("forbidden", "admin role required");
    return user;
  };

  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const fromQuery = req.query.token;
    if (fromQuery !== undefined) {
      if (typeof fromQuery !== "string") throw new AppError("invalid_request", "one token, please");
      const session = await sessions.open(check(fromQuery));
      res.setHeader(
        "Set-Cookie",
        stringifySetCookie({
          name: COOKIE,
          value: session.id,
          httpOnly: true,
          sameSite: "strict",
          // Behind a TLS proxy the request itself is plain HTTP: PUBLIC_URL's scheme decides.
          secure: secureCookie || req.secure,
          path: basePath,
          maxAge: session.maxAgeS,
        }),
      );
      // Back to the board's own page (never a path built from the request: "..", "//host"),
      // keeping the other query parameters.
      const query = new URLSearchParams(req.originalUrl.split("?")[1] ?? "");
      query.delete("token");
      const rest = query.toString();
      res.redirect(303, rest ? `${basePath}?${rest}` : basePath);
      return;
    }
    const bearer = bearerToken(req.headers.authorization);
    if (bearer) {
      check(bearer);
      next();
      return;
    }
    const cookie = req.headers.cookie ? parseCookie(req.headers.cookie)[COOKIE] : undefined;
    if (!cookie) throw new AppError("unauthenticated", "an admin token is required");
    if (!(await sessions.valid(cookie))) {
      throw new AppError(
        "unauthenticated",
        `the board session has expired: open ${basePath}?token=<admin JWT>`,
      );
    }
    next();
  };
}
