/** How a client sends a request: plain `fetch`, or one that checks the answer (http.ts). */
export type Fetcher = (base: string, pathAndQuery: string, init: RequestInit) => Promise<Response>;

const plainFetch: Fetcher = (base, pathAndQuery, init) => fetch(`${base}${pathAndQuery}`, init);

/**
 * A thin REST client, as an app would use it. The tests' `Client` (http.ts) checks every
 * response against the OpenAPI document; the benchmarks use this one with plain `fetch` (no
 * check inside timed loops, no vitest hook outside a vitest run).
 */
export class RestClient {
  readonly base: string;
  readonly token: string;
  readonly #fetch: Fetcher;
  constructor(base: string, token: string, fetcher: Fetcher = plainFetch) {
    this.base = base;
    this.token = token;
    this.#fetch = fetcher;
  }

  async call<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const res = await this.#fetch(this.base, `/api/v1/chat${path}`, {
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
