import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A fresh temporary directory for database files, removed by the returned `remove()`.
 * SQLite needs no server, so these tests never skip.
 */
export function tempDir(name = "ef-sqlite-"): { dir: string; file(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), name));
  return {
    dir,
    file: (n: string) => join(dir, n),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
