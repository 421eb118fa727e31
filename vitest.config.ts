import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end files start several processes each, so keep the file parallelism low.
    maxWorkers: 2,
  },
});
