import type { NextFunction, Request, Response } from "express";
import { AppError } from "../kernel/errors.ts";
import { AuthError, type AuthUser, type TokenVerifier } from "./jwt.ts";

const users = new WeakMap<Request, AuthUser>();

/** The token of an `Authorization: Bearer <token>` header (every place that takes one reads it here). */
export function bearerToken(header: string | undefined): string | undefined {
  const match = header?.match(/^Bearer\s+(\S+)$/i);
  return match?.[1];
}

export function authenticate(verifier: TokenVerifier) {
  return (req: Request, _res: Response, next: NextFunction): void => {
    const token = bearerToken(req.headers.authorization);
    if (!token) {
      next(new AppError("unauthenticated", "missing bearer token"));
      return;
    }
    try {
      users.set(req, verifier.verify(token));
      next();
    } catch (err) {
      next(err instanceof AuthError ? new AppError("unauthenticated", err.message) : err);
    }
  };
}

/** The user the auth middleware attached; routes behind it always have one. */
export function currentUser(req: Request): AuthUser {
  const user = users.get(req);
  if (!user) throw new AppError("unauthenticated", "not authenticated");
  return user;
}
