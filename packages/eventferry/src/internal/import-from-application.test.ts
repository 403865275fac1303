import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { resolveStore } from "../resolve-adapters.js";
import { importFromApplication } from "./import-from-application.js";

// A real application directory with a real (tiny) adapter package installed in its node_modules,
// which eventferry's own location cannot see.
function makeApp(): string {
  const app = mkdtempSync(join(tmpdir(), "eventferry-app-"));
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true }));
  const pkg = join(app, "node_modules", "@acme", "store-vault");
  mkdirSync(join(pkg, "dist"), { recursive: true });
  writeFileSync(
    join(pkg, "package.json"),
    JSON.stringify({
      name: "@acme/store-vault",
      type: "module",
      exports: {
        ".": {
          import: { types: "./dist/index.d.ts", default: "./dist/index.js" },
          require: "./dist/index.cjs",
        },
        "./package.json": "./package.json",
      },
    }),
  );
  writeFileSync(
    join(pkg, "dist", "index.js"),
    `export const loadedFrom = "esm";
     export function createStoreFromUrl(url) { return { name: "vault", url, async migrate() {}, async close() {} }; }`,
  );
  writeFileSync(join(pkg, "dist", "index.cjs"), `exports.loadedFrom = "cjs";`);
  return app;
}

const apps: string[] = [];
const cwd = process.cwd();
afterEach(() => {
  process.chdir(cwd);
  for (const app of apps.splice(0)) rmSync(app, { recursive: true, force: true });
});

describe("importFromApplication", () => {
  it("loads the package's ESM entry as installed for the application", async () => {
    const app = makeApp();
    apps.push(app);
    const mod = await importFromApplication("@acme/store-vault", app);
    expect(mod?.loadedFrom).toBe("esm");
  });

  it("returns undefined when the application does not have the package", async () => {
    const app = makeApp();
    apps.push(app);
    expect(await importFromApplication("@acme/not-here", app)).toBeUndefined();
  });

  it("lets resolveStore find an adapter that only the application's node_modules holds", async () => {
    const app = makeApp();
    apps.push(app);
    process.chdir(app);
    const store = (await resolveStore("vault:secret-place", {
      adapters: { store: { vault: "@acme/store-vault" } },
    })) as unknown as { name: string; url: string };
    expect(store).toMatchObject({ name: "vault", url: "vault:secret-place" });
  });
});
