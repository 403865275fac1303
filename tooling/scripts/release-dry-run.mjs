#!/usr/bin/env node
// A dry run of the release, in a temporary copy of the repository (the real one is never touched):
//   1. `changeset version` consumes the pending changesets;
//   2. checks that every publishable package got the same, higher version (the fixed group) and a
//      CHANGELOG.md with that version, that private packages kept theirs, and that every
//      `workspace:` range between packages still points at a publishable package and resolves to
//      the new version;
//   3. packs every publishable package (`pnpm pack`, as `changeset publish` → `pnpm publish` does)
//      and checks the packed manifests carry the new version and `^<new version>` internal ranges;
//   4. `pnpm publish --dry-run` of every publishable package (what `changeset publish` runs, minus
//      the upload).
// Assumes the packages are built (`turbo run build`): their dist/ folders are copied along.
//
// Options: --keep (keep the temporary copy) · --no-publish (skip step 4).
// Env: PNPM (the pnpm command, default `npx -y pnpm@<packageManager>`).
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import {
  CheckError,
  mapLimit,
  pnpmCommand,
  pnpmPack,
  publishablePackages,
  repoRoot,
  run,
  satisfiesSimple,
  secs,
  unpack,
  workspaceDirs,
} from "./lib/workspace.mjs";

const args = new Set(process.argv.slice(2));
const keep = args.has("--keep");
const publish = !args.has("--no-publish");
const log = (line) => console.log(line);
const problems = [];
const problem = (what) => problems.push(what);

/** Semver-ish comparison of x.y.z versions (pre-release tags compare lower). */
function compareVersions(a, b) {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d) return d;
  }
  return (pb.length > 3 ? 1 : 0) - (pa.length > 3 ? 1 : 0);
}

/** Links every `workspace:` dependency of every workspace package to its folder in `root`. */
function linkWorkspace(root) {
  const dirs = workspaceDirs(root);
  const byName = new Map(
    dirs.map((dir) => [JSON.parse(readFileSync(join(dir, "package.json"), "utf8")).name, dir]),
  );
  for (const dir of dirs) {
    const m = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    for (const field of ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"]) {
      for (const [dep, spec] of Object.entries(m[field] ?? {})) {
        const target = byName.get(dep);
        const link = join(dir, "node_modules", dep);
        if (!spec.startsWith("workspace:") || !target || existsSync(link)) continue;
        mkdirSync(dirname(link), { recursive: true });
        symlinkSync(relative(dirname(link), target), link, "dir");
      }
    }
  }
}

async function main() {
  const started = Date.now();
  const pnpm = pnpmCommand();
  const before = publishablePackages();
  const privateBefore = new Map(
    workspaceDirs()
      .map((dir) => JSON.parse(readFileSync(join(dir, "package.json"), "utf8")))
      .filter((m) => m.private === true)
      .map((m) => [m.name, m.version]),
  );
  const pending = readdirSync(join(repoRoot, ".changeset")).filter(
    (f) => f.endsWith(".md") && f !== "README.md",
  );
  log(`release-dry-run: ${before.length} publishable packages, ${pending.length} pending changesets`);
  if (pending.length === 0) log("  (no pending changeset: `changeset version` will change nothing)");
  const named = new Set(
    pending.flatMap((f) => {
      const front =
        /^---\n([\s\S]*?)\n---/.exec(readFileSync(join(repoRoot, ".changeset", f), "utf8"))?.[1] ?? "";
      return [...front.matchAll(/^\s*["']?([^"':]+)["']?\s*:/gm)].map((m) => m[1].trim());
    }),
  );
  const unnamed = before.filter((p) => !named.has(p.name)).map((p) => p.name);
  if (pending.length && unnamed.length) {
    log(
      `  warning: no pending changeset names ${unnamed.join(", ")}: their CHANGELOG will only say "Updated dependencies"`,
    );
  }
  for (const p of before) {
    if (!existsSync(join(p.dir, "dist")))
      throw new CheckError(`${p.name} is not built; run \`turbo run build\` first`);
  }

  // 1. A copy of the repository: tracked and new (not ignored) files, plus the built dist/ folders.
  const copy = mkdtempSync(join(tmpdir(), "eventferry-release-"));
  log(`copy: ${copy}${keep ? " (kept)" : ""}`);
  let ok = false;
  try {
    const { stdout } = await run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
      cwd: repoRoot,
    });
    const files = stdout.split("\0").filter((f) => f && existsSync(join(repoRoot, f)));
    for (const f of files) cpSync(join(repoRoot, f), join(copy, f), { recursive: false, force: true });
    for (const p of before)
      cpSync(join(p.dir, "dist"), join(copy, relative(repoRoot, p.dir), "dist"), { recursive: true });
    // changeset resolves its changelog generator from the root; the repository's node_modules has it.
    symlinkSync(join(repoRoot, "node_modules"), join(copy, "node_modules"), "dir");
    const git = {
      GIT_AUTHOR_NAME: "dry-run",
      GIT_AUTHOR_EMAIL: "dry-run@invalid",
      GIT_COMMITTER_NAME: "dry-run",
    };
    const gitEnv = { ...git, GIT_COMMITTER_EMAIL: "dry-run@invalid" };
    await run(["git", "init", "-q", "-b", "main"], { cwd: copy });
    await run(["git", "add", "-A"], { cwd: copy });
    await run(["git", "commit", "-q", "-m", "dry-run base", "--no-verify"], { cwd: copy, env: gitEnv });
    log(`copied ${files.length} files`);

    // 2. changeset version.
    const changeset = join(repoRoot, "node_modules", "@changesets", "cli", "bin.js");
    if (!existsSync(changeset))
      throw new CheckError("@changesets/cli is not installed at the root (pnpm install)");
    const version = await run(["node", changeset, "version"], { cwd: copy, timeoutMs: 120_000 });
    log(`changeset version: done in ${secs(version.ms)}`);

    const after = publishablePackages(copy);
    const afterByName = new Map(after.map((p) => [p.name, p]));
    const newVersions = new Set(after.map((p) => p.version));
    if (newVersions.size !== 1) {
      problem(
        `the fixed group has several versions: ${after.map((p) => `${p.name}@${p.version}`).join(", ")}`,
      );
    }
    const next = after[0]?.version;
    for (const p of before) {
      const a = afterByName.get(p.name);
      if (!a) {
        problem(`${p.name} is no longer a publishable package after changeset version`);
        continue;
      }
      if (pending.length > 0 && compareVersions(a.version, p.version) <= 0) {
        problem(`${p.name}: version ${p.version} → ${a.version} did not go up`);
      }
      const changelog = join(a.dir, "CHANGELOG.md");
      if (!existsSync(changelog)) problem(`${p.name}: no CHANGELOG.md`);
      else if (!readFileSync(changelog, "utf8").includes(`## ${a.version}`)) {
        problem(`${p.name}: CHANGELOG.md has no "## ${a.version}" section`);
      }
      for (const field of ["dependencies", "peerDependencies", "optionalDependencies", "devDependencies"]) {
        for (const [dep, spec] of Object.entries(a.manifest[field] ?? {})) {
          if (!spec.startsWith("workspace:")) continue;
          const target = afterByName.get(dep);
          if (!target) {
            if (field !== "devDependencies")
              problem(`${p.name}: ${field}.${dep} (${spec}) is not a publishable package`);
            continue;
          }
          const range = spec.slice("workspace:".length);
          if (["^", "~", "*"].includes(range)) continue;
          if (!satisfiesSimple(range, target.version)) {
            problem(`${p.name}: ${field}.${dep} "${spec}" does not accept ${dep}@${target.version}`);
          }
        }
      }
    }
    for (const dir of workspaceDirs(copy)) {
      const m = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (m.private === true && privateBefore.get(m.name) !== m.version) {
        problem(`private package ${m.name} changed version: ${privateBefore.get(m.name)} → ${m.version}`);
      }
    }
    const left = readdirSync(join(copy, ".changeset")).filter((f) => f.endsWith(".md") && f !== "README.md");
    if (left.length) problem(`changesets not consumed: ${left.join(", ")}`);
    log(
      `versions: ${before.map((p) => `${p.name} ${p.version} → ${afterByName.get(p.name)?.version}`).join(", ")}`,
    );

    // pnpm resolves `workspace:` ranges from the linked packages in node_modules: link the copy's
    // own workspace packages (and only those) the way `pnpm install` would.
    linkWorkspace(copy);

    // 3. Pack as publish would, and read the packed manifests.
    const packStarted = Date.now();
    const packed = await mapLimit(after, 4, async (p) => {
      const tarball = await pnpmPack(p, join(copy, ".dry-run-tarballs"), { pnpm });
      const { manifest } = await unpack(tarball, join(copy, ".dry-run-unpacked", p.name.replace("/", "__")));
      return { ...p, tarball, packedManifest: manifest };
    });
    for (const p of packed) {
      const m = p.packedManifest;
      if (m.version !== next) problem(`${p.name}: packed version ${m.version}, expected ${next}`);
      for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
        for (const [dep, range] of Object.entries(m[field] ?? {})) {
          if (/^(workspace|catalog):/.test(range)) problem(`${p.name}: packed ${field}.${dep} is "${range}"`);
          const target = afterByName.get(dep);
          if (target && !satisfiesSimple(range, target.version)) {
            problem(`${p.name}: packed ${field}.${dep} "${range}" does not accept ${dep}@${target.version}`);
          }
        }
      }
    }
    log(`packed ${packed.length} packages at ${next} in ${secs(Date.now() - packStarted)}`);

    // 4. pnpm publish --dry-run (no upload; the registry is only asked nothing or read).
    if (publish) {
      const pubStarted = Date.now();
      await mapLimit(after, 4, async (p) => {
        const r = await run([...pnpm, "publish", "--dry-run", "--no-git-checks", "--access", "public"], {
          cwd: p.dir,
          timeoutMs: 120_000,
          allowFail: true,
        });
        if (r.code !== 0) {
          problem(
            `${p.name}: pnpm publish --dry-run failed:\n${(r.stdout + r.stderr).trim().split("\n").slice(-15).join("\n")}`,
          );
        }
      });
      log(`pnpm publish --dry-run of ${after.length} packages in ${secs(Date.now() - pubStarted)}`);
    }

    const sample = after.find((p) => p.name === "eventferry") ?? after[0];
    if (sample && existsSync(join(sample.dir, "CHANGELOG.md"))) {
      log(`\n${sample.name}/CHANGELOG.md (head):`);
      log(
        readFileSync(join(sample.dir, "CHANGELOG.md"), "utf8")
          .split("\n")
          .slice(0, 14)
          .map((l) => `  ${l}`)
          .join("\n"),
      );
    }
    if (problems.length)
      throw new CheckError(`release dry run found problems:\n  - ${problems.join("\n  - ")}`);
    ok = true;
  } finally {
    log(`\nrelease-dry-run took ${secs(Date.now() - started)}`);
    if (!keep && ok) rmSync(copy, { recursive: true, force: true });
    else log(`copy left for inspection: ${copy}`);
  }
  log("release-dry-run: OK");
}

main().catch((error) => {
  console.error(
    `\nrelease-dry-run FAILED: ${error instanceof CheckError ? error.message : (error?.stack ?? error)}`,
  );
  process.exit(1);
});
