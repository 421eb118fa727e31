import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { z } from "zod";
import type { JwtKeyConfig } from "../config/config.ts";
import { userIdSchema } from "../kernel/ids.ts";

const claimsSchema = z.object({
  sub: userIdSchema,
  name: z.string().min(1).max(128).optional(),
  roles: z.array(z.string()).optional(),
  exp: z.number().int(),
});

export type AuthUser = { id: string; name: string | undefined; admin: boolean; expiresAt: number };

export class AuthError extends Error {}

export type JwtOptions = { key: JwtKeyConfig; issuer?: string | undefined; audience?: string | undefined };

/** Algorithms are pinned by key kind, which rules out `alg: none` and HS/RS confusion. */
function algorithmsFor(key: JwtKeyConfig): jwt.Algorithm[] {
  if (key.kind === "secret") return ["HS256"];
  const type = createPublicKey(key.publicKey).asymmetricKeyType;
  if (type === "rsa") return ["RS256"];
  if (type === "ec") return ["ES256"];
  throw new Error(`JWT_PUBLIC_KEY: unsupported key type ${type}`);
}

export class TokenVerifier {
  readonly #options: JwtOptions;
  readonly #algorithms: jwt.Algorithm[];
  /** Parsed once: jsonwebtoken would otherwise rebuild the key object on every verify. */
  readonly #key: KeyObject;

  constructor(options: JwtOptions) {
    this.#options = options;
    this.#algorithms = algorithmsFor(options.key);
    this.#key =
      options.key.kind === "secret"
        ? createSecretKey(Buffer.from(options.key.secret, "utf8"))
        : createPublicKey(options.key.publicKey);
  }

  verify(token: string): AuthUser {
    let payload: unknown;
    try {
      payload = jwt.verify(token, this.#key, {
        algorithms: this.#algorithms,
        ...(this.#options.issuer ? { issuer: this.#options.issuer } : {}),
        ...(this.#options.audience ? { audience: this.#options.audience } : {}),
      });
    } catch (err) {
      throw new AuthError(err instanceof jwt.TokenExpiredError ? "token expired" : "invalid token");
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new AuthError("invalid token claims (sub and exp are required)");
    const { sub, name, roles, exp } = claims.data;
    return { id: sub, name, admin: roles?.includes("admin") ?? false, expiresAt: exp * 1000 };
  }
}

export type SignOptions = {
  name?: string;
  admin?: boolean;
  expiresInS?: number;
  issuer?: string;
  audience?: string;
};

/** HS256 tokens for `npm run token` and tests. */
export function signToken(secret: string, userId: string, opts: SignOptions = {}): string {
  return jwt.sign(
    { sub: userId, ...(opts.name ? { name: opts.name } : {}), ...(opts.admin ? { roles: ["admin"] } : {}) },
    secret,
    {
      algorithm: "HS256",
      expiresIn: opts.expiresInS ?? 3600,
      ...(opts.issuer ? { issuer: opts.issuer } : {}),
      ...(opts.audience ? { audience: opts.audience } : {}),
    },
  );
}
