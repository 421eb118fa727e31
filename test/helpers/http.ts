import { observe } from "./openapi-responses.ts";

/**
 * `fetch` of a path on the API at `base`, its response checked against the OpenAPI document
 * that API serves (test/helpers/openapi-responses.ts): for tests that need a raw request (odd
 * headers, a malformed body) yet must get an answer the document allows.
 */
export async function checkedFetch(
  base: string,
  pathAndQuery: string,
  init: RequestInit = {},
): Promise<Response> {
  const res = await fetch(`${base}${pathAndQuery}`, init);
  observe(base, init.method ?? "GET", pathAndQuery.split("?")[0] ?? "", res);
  return res;
}

/** A thin REST client, as an app would use it; every response is checked against the OpenAPI document. */
export class Client {
  readonly base: string;
  readonly token: string;
  constructor(base: string, token: string) {
    this.base = base;
    this.token = token;
  }

  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const res = await checkedFetch(this.base, `/api/v1/chat${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as T, headers: res.headers };
  }
}
