import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    reporters: ["default", "./test/summary-reporter.ts"],
    projects: [
      {
        test: {
          name: "unit",
          include: ["engine/**/*.test.ts", "web/**/*.test.ts", "vm-images/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          // Each suite boots its guest once (beforeAll) and reuses it; suites run one at a time on 2 cores.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          // Real Chromium against a production build of the page; one browser at a time on 2 cores.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 240_000,
          // A shared 2-core machine can take seconds to echo what Playwright types.
          expect: { poll: { timeout: 15_000 } },
        },
      },
    ],
  },
});
