import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

/**
 * Imports `pkg` as installed for the application (resolved from `cwd`), for when `eventferry`'s
 * own location cannot see it: a workspace where `eventferry` is linked from its sources, or an
 * install without hoisting. Returns `undefined` when the application does not have it either.
 *
 * The ESM entry is taken from the package's `exports["."]` (`import`, then `default`), or
 * `module`/`main`. The package must export `./package.json` (Eventferry adapters do) or have no
 * `exports` map.
 */
export async function importFromApplication(
  pkg: string,
  cwd: string = process.cwd(),
): Promise<Record<string, unknown> | undefined> {
  let manifestPath: string;
  try {
    manifestPath = createRequire(join(cwd, "package.json")).resolve(`${pkg}/package.json`);
  } catch {
    return undefined;
  }
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as {
    exports?: unknown;
    module?: string;
    main?: string;
  };
  const entry = esmEntry(manifest.exports) ?? manifest.module ?? manifest.main ?? "index.js";
  return (await import(/* @vite-ignore */ pathToFileURL(join(dirname(manifestPath), entry)).href)) as Record<
    string,
    unknown
  >;
}

function esmEntry(exports: unknown): string | undefined {
  if (typeof exports === "string") return exports;
  if (typeof exports !== "object" || exports === null) return undefined;
  const root = (exports as Record<string, unknown>)["."] ?? exports;
  return pick(root);
}

function pick(target: unknown): string | undefined {
  if (typeof target === "string") return target;
  if (typeof target !== "object" || target === null) return undefined;
  const t = target as Record<string, unknown>;
  return pick(t.import) ?? pick(t.node) ?? pick(t.default);
}
