import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // test/cluster (a Redis master killed mid-burst) runs with the cluster part of the suite
    // (scripts/test-cluster.sh sets TEST_REDIS_CLUSTER), apart from the busy main run.
    include: process.env.TEST_REDIS_CLUSTER
      ? ["test/**/*.test.ts"]
      : ["test/{unit,integration,contract,e2e}/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end files start several processes each, so keep the file parallelism low.
    maxWorkers: 2,
  },
});
