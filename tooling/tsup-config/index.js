// The one build preset. Every package's tsup.config.ts is two lines that call this.
// ESM + CJS + .d.ts/.d.cts, sourcemaps, target Node 20 (the lowest engine we support).
// Declarations are built against siblings' dist (customConditions cleared), so `turbo build`
// runs in dependency order and users' types never point at src.
import { defineConfig } from "tsup";

/** @param {{ entry?: Record<string, string> | string[] }} [options] */
export function definePackageConfig(options = {}) {
  return defineConfig({
    entry: options.entry ?? { index: "src/index.ts" },
    format: ["esm", "cjs"],
    target: "node20",
    platform: "node",
    dts: { compilerOptions: { customConditions: [], noEmit: false } },
    sourcemap: true,
    clean: true,
    splitting: false,
    treeshake: false,
    shims: false,
    outDir: "dist",
  });
}
