import { pino } from "pino";

export type Logger = pino.Logger;

/**
 * Fields an error may carry that hold request data: ioredis puts the failed command and its
 * arguments (message text, keys) on `command`; a store error's SQL parameters, likewise.
 */
const DATA_FIELDS = ["command", "args", "argv", "parameters"];

/** The standard error serializer without request data, so a failing call never logs message text. */
function serializeError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const out = pino.stdSerializers.err(err) as unknown as Record<string, unknown>;
  for (const f of DATA_FIELDS) delete out[f];
  return out;
}

export function createLogger(level: string, name: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      name,
      base: { pid: process.pid },
      serializers: { err: serializeError, error: serializeError },
      // Belt and braces: these never reach a log line, whoever logs them.
      redact: {
        paths: [
          "text",
          "*.text",
          "token",
          "*.token",
          "authorization",
          "*.authorization",
          "*.headers.authorization",
        ],
        censor: "[redacted]",
      },
    },
    destination,
  );
}
