// The one test preset: two projects per package.
//   unit         src/**/*.test.ts (no network) + type tests src/**/*.test-d.ts
//   integration  test/**/*.int.test.ts (real PostgreSQL / Redis / NATS / SQLite files)
//   serial       test/**/*.serial.test.ts: tests that disturb a shared server (restart it, pause
//                every client). The root `pnpm test` runs them after everything else, one package
//                at a time (`turbo run test:serial --concurrency=1`), files one after another.
// Sources of sibling packages are used directly through the `@eventferry/source` export condition,
// so tests never need a build.
import { defineConfig } from "vitest/config";

// Not "import": vitest hands these to Node as --conditions, and with "import" among them a CommonJS
// require() inside a driver (pg → pg-pool) would load an ESM build.
const conditions = ["@eventferry/source", "module", "node", "default"];

/** @param {{ integrationTimeout?: number }} [options] */
export function definePackageTestConfig(options = {}) {
  return defineConfig({
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ["@eventferry/source"] } },
    test: {
      passWithNoTests: true,
      projects: [
        {
          extends: true,
          test: {
            name: "unit",
            include: ["src/**/*.test.ts"],
            typecheck: { enabled: true, include: ["src/**/*.test-d.ts"], tsconfig: "./tsconfig.json" },
            // CI runs every package's unit suite at once on two cores: a test that takes 3 s alone
            // (the demo's load run follows metrics once a second) once hit vitest's 5 s default.
            testTimeout: 15_000,
          },
        },
        {
          extends: true,
          test: {
            name: "integration",
            include: ["test/**/*.int.test.ts"],
            testTimeout: options.integrationTimeout ?? 60_000,
            hookTimeout: 60_000,
          },
        },
        {
          extends: true,
          test: {
            name: "serial",
            include: ["test/**/*.serial.test.ts"],
            pool: "forks",
            poolOptions: { forks: { singleFork: true } },
            testTimeout: options.integrationTimeout ?? 120_000,
            hookTimeout: 60_000,
          },
        },
      ],
    },
  });
}
