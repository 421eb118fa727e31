import { signToken } from "../auth/jwt.ts";

/** How long a demo token lasts: a day of trying the product, not a credential to keep. */
const DEMO_TOKEN_TTL_S = 12 * 3600;

export type DemoToken = { token: string; expires_at: string };

/**
 * The demo login: a token for any user id, signed with the embedded secret. Only mounted while
 * DEMO_LOGIN is on (config.ts refuses it in production); it never grants the admin role.
 */
export class DemoLogin {
  readonly #secret: string;
  readonly #claims: { issuer?: string; audience?: string };

  constructor(secret: string, claims: { issuer?: string | undefined; audience?: string | undefined }) {
    this.#secret = secret;
    this.#claims = {
      ...(claims.issuer ? { issuer: claims.issuer } : {}),
      ...(claims.audience ? { audience: claims.audience } : {}),
    };
  }

  issue(userId: string, name: string | undefined): DemoToken {
    const token = signToken(this.#secret, userId, {
      ...(name ? { name } : {}),
      expiresInS: DEMO_TOKEN_TTL_S,
      ...this.#claims,
    });
    // The token's own exp (whole seconds), so the client and the token agree.
    const exp = Math.floor(Date.now() / 1000) + DEMO_TOKEN_TTL_S;
    return { token, expires_at: new Date(exp * 1000).toISOString() };
  }
}
