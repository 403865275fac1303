// The reliability scenarios run the built packages (dist), as a user installs them: no
// `@eventferry/source` condition here, unlike the packages' own tests. Their workers are separate
// Node processes (fixtures/*.mjs) that a test kills, pauses and restarts.
//   serial  test/**/*.serial.test.ts — run by `pnpm test` after every other package's tests
//   long    test/**/*.long.test.ts   — the long set (`pnpm test:reliability`), not in CI
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "serial",
          include: ["test/**/*.serial.test.ts"],
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 240_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "long",
          include: ["test/**/*.long.test.ts"],
          pool: "forks",
          poolOptions: { forks: { singleFork: true } },
          testTimeout: 3_600_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
