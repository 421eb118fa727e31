import { Writable } from "node:stream";
import { ReplyError } from "ioredis";
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/observability/logger.ts";

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger("info", "test", stream), output: () => lines.join("") };
}

describe("logger", () => {
  it("drops a Redis error's command arguments (message text) but keeps what went wrong", () => {
    const { logger, output } = capture();
    const err = Object.assign(new ReplyError("ERR Error running script: bad JSON"), {
      command: { name: "evalsha", args: ["sha", "6", "secret message text", "k2"] },
    });
    logger.error({ err }, "send failed");
    expect(output()).toContain("Error running script");
    expect(output()).not.toContain("secret message text");
    expect(output()).not.toContain('"command"');
  });

  it("redacts text and tokens wherever they are logged", () => {
    const { logger, output } = capture();
    logger.warn({ text: "private words", message: { text: "more private" }, token: "eyJabc" }, "x");
    expect(output()).not.toMatch(/private words|more private|eyJabc/);
  });
});
