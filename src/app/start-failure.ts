/**
 * A process that cannot start (store file missing, port taken) says why in one line on stderr
 * and exits 1, instead of an unhandled rejection's stack.
 */
export function exitOnStartFailure(what: string): (err: unknown) => never {
  return (err) => {
    const reason = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${what} cannot start: ${reason}\n`);
    process.exit(1);
  };
}
