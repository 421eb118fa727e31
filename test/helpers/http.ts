import { observe } from "./openapi-responses.ts";
import { RestClient } from "./rest-client.ts";

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
  await observe(base, init.method ?? "GET", pathAndQuery.split("?")[0] ?? "", res);
  return res;
}

/** A thin REST client, as an app would use it; every response is checked against the OpenAPI document. */
export class Client extends RestClient {
  constructor(base: string, token: string) {
    super(base, token, checkedFetch);
  }
}
