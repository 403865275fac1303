#!/usr/bin/env node
// Adds up the vitest JSON reports that every package's `test` and `test:int` scripts write to
// `.vitest/*.json`, prints one closing line `tests: N passed, N failed, N skipped`, and exits 1
// when a test failed or when no test ran at all.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
let passed = 0;
let failed = 0;
let skipped = 0;
const rows = [];
for (const group of ["packages", "apps", "tests"]) {
  const dir = join(root, group);
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir)) {
    const reports = join(dir, name, ".vitest");
    if (!existsSync(reports)) continue;
    for (const file of readdirSync(reports).filter((f) => f.endsWith(".json"))) {
      const r = JSON.parse(readFileSync(join(reports, file), "utf8"));
      const p = r.numPassedTests ?? 0;
      const f = r.numFailedTests ?? 0;
      const s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
      passed += p;
      failed += f;
      skipped += s;
      rows.push(
        `${`${group}/${name}`.padEnd(28)} ${file.replace(".json", "").padEnd(12)} ${p} passed, ${f} failed, ${s} skipped`,
      );
    }
  }
}
console.log(rows.join("\n"));
console.log(`tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
if (failed > 0 || passed === 0) process.exit(1);
