import { parseCookie, stringifySetCookie } from "cookie";
import type { NextFunction, Request, Response } from "express";
import { bearerToken } from "../auth/auth.middleware.ts";
import { AuthError, type AuthUser, type TokenVerifier } from "../auth/jwt.ts";
import { AppError } from "../errors.ts";

const COOKIE = "chat_admin";

/**
 * Operator pages (Bull Board) for admins only: `Authorization: Bearer` with `roles: ["admin"]`,
 * or `?token=` once, which becomes an HttpOnly, SameSite=Strict cookie scoped to `basePath`
 * that lives no longer than the token, and a redirect that drops the token from the URL (so
 * it stays out of history, bookmarks and Referer). No token: 401; a bad or tampered one: 401;
 * a valid non-admin: 403.
 */
export function adminAuth(verifier: TokenVerifier, basePath: string, secureCookie: boolean) {
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

  return (req: Request, res: Response, next: NextFunction): void => {
    const fromQuery = req.query.token;
    if (fromQuery !== undefined) {
      if (typeof fromQuery !== "string") throw new AppError("invalid_request", "one token, please");
      const user = check(fromQuery);
      const maxAge = Math.max(0, Math.floor((user.expiresAt - Date.now()) / 1000));
      res.setHeader(
        "Set-Cookie",
        stringifySetCookie({
          name: COOKIE,
          value: fromQuery,
          httpOnly: true,
          sameSite: "strict",
          // Behind a TLS proxy the request itself is plain HTTP: PUBLIC_URL's scheme decides.
          secure: secureCookie || req.secure,
          path: basePath,
          maxAge,
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
    const cookie = req.headers.cookie ? parseCookie(req.headers.cookie)[COOKIE] : undefined;
    const token = bearer ?? cookie;
    if (!token) throw new AppError("unauthenticated", "an admin token is required");
    check(token);
    next();
  };
}
