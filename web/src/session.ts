import type { ErrorBody } from "../../src/contract/events.ts";
import { ApiError } from "./api.ts";

export type Session = { token: string; userId: string; name: string | null; expiresAt: number };

const KEY = "chat.token";

/** Reads a JWT's claims for display only: the server is what checks the token. */
function claimsOf(token: string): Session | null {
  try {
    const part = token.split(".")[1] ?? "";
    const json = atob(part.replace(/-/g, "+").replace(/_/g, "/"));
    const claims = JSON.parse(new TextDecoder().decode(Uint8Array.from(json, (c) => c.charCodeAt(0)))) as {
      sub?: unknown;
      name?: unknown;
      exp?: unknown;
    };
    if (typeof claims.sub !== "string" || typeof claims.exp !== "number") return null;
    return {
      token,
      userId: claims.sub,
      name: typeof claims.name === "string" ? claims.name : null,
      expiresAt: claims.exp * 1000,
    };
  } catch {
    return null;
  }
}

/** The token lives in sessionStorage only: never in a URL, gone when the tab closes. */
export function savedSession(): Session | null {
  const token = sessionStorage.getItem(KEY);
  const session = token ? claimsOf(token) : null;
  if (!session || session.expiresAt <= Date.now()) {
    sessionStorage.removeItem(KEY);
    return null;
  }
  return session;
}

export function signInWithToken(token: string): Session {
  const session = claimsOf(token.trim());
  if (!session) throw new Error("That is not a token from `npm run token`.");
  if (session.expiresAt <= Date.now()) throw new Error("That token has expired.");
  sessionStorage.setItem(KEY, session.token);
  return session;
}

/** The demo login (POST /api/v1/demo/token); a 404 means the server has it turned off. */
export async function demoLogin(userId: string): Promise<Session> {
  const res = await fetch("/api/v1/demo/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user_id: userId, name: userId }),
  });
  const json = (await res.json().catch(() => null)) as { token?: string; error?: ErrorBody } | null;
  if (!res.ok || !json?.token) {
    if (res.status === 404) throw new Error("Demo sign-in is off on this server: paste a token instead.");
    throw new ApiError(res.status, json?.error ?? { code: "internal", message: `HTTP ${res.status}` });
  }
  return signInWithToken(json.token);
}

export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
