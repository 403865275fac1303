// The one test preset: two projects per package.
//   unit         src/**/*.test.ts (no network) + type tests src/**/*.test-d.ts
//   integration  test/**/*.int.test.ts (real PostgreSQL / Redis / NATS / SQLite files)
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
      ],
    },
  });
}
