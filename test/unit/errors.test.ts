import { ReplyError } from "ioredis";
import { describe, expect, it } from "vitest";
import { httpError } from "../../src/http/error.handler.ts";
import { toAppError } from "../../src/http/error-mapping.ts";
import { AppError } from "../../src/kernel/errors.ts";
import { StoreUnavailableError } from "../../src/store/store.ts";

const codeOf = (err: unknown) => toAppError(err).code;

describe("toAppError: by error type, not by the state of a connection", () => {
  it("keeps AppErrors, and maps store outages to 503 with their Retry-After", () => {
    expect(toAppError(new AppError("forbidden", "no")).code).toBe("forbidden");
    const mapped = toAppError(new StoreUnavailableError("locked", { retryAfterS: 2 }));
    expect(mapped).toMatchObject({ code: "unavailable", retryAfterS: 2 });
  });

  it("maps Redis connection errors and Redis' own 'not now' codes to 503", () => {
    expect(codeOf(new Error("Connection is closed."))).toBe("unavailable");
    expect(codeOf(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).toBe(
      "unavailable",
    );
    expect(codeOf(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }))).toBe(
      "unavailable",
    );
    expect(codeOf(Object.assign(new Error("x"), { name: "MaxRetriesPerRequestError" }))).toBe("unavailable");
    expect(codeOf(new ReplyError("LOADING Redis is loading the dataset in memory"))).toBe("unavailable");
    expect(codeOf(new ReplyError("OOM command not allowed when used memory > 'maxmemory'"))).toBe(
      "unavailable",
    );
  });

  it("leaves bugs as 500, even ones that mention a connection", () => {
    expect(codeOf(new TypeError("cannot read properties of undefined"))).toBe("internal");
    expect(codeOf(new ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value"))).toBe(
      "internal",
    );
    expect(codeOf(new Error("my own message about ECONNRESET"))).toBe("internal");
  });

  it("honours the status of the router's and body parser's client errors over HTTP", () => {
    expect(httpError(Object.assign(new URIError("bad"), { status: 400, expose: true })).code).toBe(
      "invalid_request",
    );
    expect(httpError(Object.assign(new Error("too big"), { status: 413, expose: true })).code).toBe(
      "payload_too_large",
    );
    expect(httpError(Object.assign(new Error("enc"), { status: 415, expose: true })).code).toBe(
      "unsupported_media_type",
    );
    expect(httpError(Object.assign(new Error("hidden"), { status: 400, expose: false })).code).toBe(
      "internal",
    );
    expect(httpError(new AppError("unauthenticated", "x")).code).toBe("unauthenticated");
  });
});
