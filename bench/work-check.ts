/**
 * What a benchmark must have done for its figures to mean anything. A benchmark that times
 * nothing (a key renamed, a page that came back empty, a push that never happened) would
 * otherwise print a fast, passing figure; each check here compares the work done with the
 * work the figure claims, and `finish` exits non-zero when any fell short.
 */
export class WorkCheck {
  readonly #failures: string[] = [];
  #checks = 0;

  /** `done` must be exactly `expected` (messages synced, pushes made, images processed...). */
  equal(what: string, done: number, expected: number): void {
    this.#checks++;
    if (done !== expected) this.#failures.push(`${what}: ${done}, expected ${expected}`);
  }

  /** `done` must be at least `min`. */
  atLeast(what: string, done: number, min: number): void {
    this.#checks++;
    if (!(done >= min)) this.#failures.push(`${what}: ${done}, expected at least ${min}`);
  }

  /** `done` must be at most `max` (errors, messages lost). */
  atMost(what: string, done: number, max: number): void {
    this.#checks++;
    if (!(done <= max)) this.#failures.push(`${what}: ${done}, expected at most ${max}`);
  }

  /** Prints the outcome; exits 1 if any check failed, else 0 (benchmarks end here). */
  finish(): never {
    if (this.#failures.length > 0) {
      console.error(
        `\nWORK CHECK FAILED: the figures above did not measure the work they claim:\n  - ${this.#failures.join("\n  - ")}`,
      );
      process.exit(1);
    }
    console.log(`\nwork check: ${this.#checks} checks passed (the figures measured the work they claim)`);
    process.exit(0);
  }
}
