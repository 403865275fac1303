// Helpers shared by pack-check.mjs and release-dry-run.mjs (plain Node, no dependencies): finding
// the publishable packages of the workspace, running commands with a time limit, packing with pnpm
// and reading a packed tarball's manifest.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The repository root (two levels above this folder). */
export const repoRoot = new URL("../../..", import.meta.url).pathname.replace(/\/$/, "");

/** A failure with a message meant for the person reading the CI log. */
export class CheckError extends Error {}

/**
 * The pnpm command as an argv prefix: `$PNPM` (split on spaces) when set, else
 * `npx -y pnpm@<packageManager version>` (corepack does not work on every machine).
 */
export function pnpmCommand(root = repoRoot) {
  if (process.env.PNPM?.trim()) return process.env.PNPM.trim().split(/\s+/);
  const pm = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).packageManager ?? "pnpm";
  return ["npx", "-y", pm.split("+")[0]];
}

/** Workspace package folders from pnpm-workspace.yaml (`- dir/*` and `- dir` entries). */
export function workspaceDirs(root = repoRoot) {
  const yaml = readFileSync(join(root, "pnpm-workspace.yaml"), "utf8");
  const block = /^packages:\s*\n((?:[ \t]+-.*\n?)+)/m.exec(yaml);
  if (!block) throw new CheckError("pnpm-workspace.yaml has no packages: list");
  const dirs = [];
  for (const line of block[1].split("\n")) {
    const glob = /^\s*-\s*["']?([^"'#\s]+)["']?/.exec(line)?.[1];
    if (!glob) continue;
    if (glob.endsWith("/*")) {
      const parent = join(root, glob.slice(0, -2));
      if (!existsSync(parent)) continue;
      for (const name of readdirSync(parent).sort()) {
        if (existsSync(join(parent, name, "package.json"))) dirs.push(join(parent, name));
      }
    } else if (existsSync(join(root, glob, "package.json"))) {
      dirs.push(join(root, glob));
    }
  }
  return dirs;
}

/** Publishable packages (no `"private": true`): `{ dir, name, version, manifest }`, sorted by name. */
export function publishablePackages(root = repoRoot) {
  return workspaceDirs(root)
    .map((dir) => ({ dir, manifest: JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) }))
    .filter(({ manifest }) => manifest.private !== true)
    .map(({ dir, manifest }) => ({ dir, name: manifest.name, version: manifest.version, manifest }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Versions from the `catalog:` block of pnpm-workspace.yaml (`name: range`). */
export function catalogVersions(root = repoRoot) {
  const yaml = readFileSync(join(root, "pnpm-workspace.yaml"), "utf8");
  const block = /^catalog:\s*\n((?:[ \t]+.*\n?)+)/m.exec(yaml);
  const out = {};
  for (const line of block?.[1].split("\n") ?? []) {
    const m = /^\s+["']?([^"':\s]+)["']?\s*:\s*["']?([^"'#\s]+)/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

// Children run in their own process group (so a time limit kills the whole tree); kill those
// groups when this process ends early too, so nothing (an npm install compiling) outlives us.
const running = new Set();
const killAll = () => {
  for (const pid of running) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {}
  }
};
process.on("exit", killAll);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/**
 * Runs a command; resolves `{ code, stdout, stderr, ms }`. Rejects with a CheckError when it exits
 * non-zero (unless `allowFail`) or runs longer than `timeoutMs` (then its process group is killed).
 */
export function run(argv, { cwd, env, timeoutMs = 120_000, allowFail = false, input } = {}) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      cwd,
      env: { ...process.env, ...env },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      detached: true,
    });
    running.add(child.pid);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    if (input !== undefined) {
      child.stdin.on("error", () => {});
      child.stdin.end(input);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL");
      }
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new CheckError(`could not start ${argv[0]}: ${error.message}`));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child.pid);
      const result = { code, stdout, stderr, ms: Date.now() - started };
      const shown = `\`${argv.join(" ")}\`${cwd ? ` in ${cwd}` : ""}`;
      if (timedOut) {
        reject(new CheckError(`${shown} took longer than ${timeoutMs / 1000} s${tail(stdout, stderr)}`));
      } else if (code !== 0 && !allowFail) {
        reject(new CheckError(`${shown} failed (exit ${code ?? signal})${tail(stdout, stderr)}`));
      } else {
        resolve(result);
      }
    });
  });
}

function tail(stdout, stderr) {
  const last = (s) => s.trim().split("\n").slice(-40).join("\n");
  return `${stdout.trim() ? `\n--- stdout (tail)\n${last(stdout)}` : ""}${stderr.trim() ? `\n--- stderr (tail)\n${last(stderr)}` : ""}`;
}

/** Maps `items` through `fn` with at most `limit` running at once, keeping order. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** `pnpm pack` of one package into `dest`; resolves with the tarball's absolute path. */
export async function pnpmPack(pkg, dest, { pnpm = pnpmCommand() } = {}) {
  mkdirSync(dest, { recursive: true });
  const { stdout } = await run([...pnpm, "pack", "--pack-destination", dest, "--json"], {
    cwd: pkg.dir,
    timeoutMs: 120_000,
  });
  const json = stdout.slice(stdout.indexOf("{"));
  let filename;
  try {
    filename = JSON.parse(json).filename;
  } catch {
    throw new CheckError(`pnpm pack in ${pkg.dir} printed no JSON:\n${stdout}`);
  }
  if (!filename || !existsSync(filename))
    throw new CheckError(`pnpm pack of ${pkg.name}: no tarball at ${filename}`);
  return filename;
}

/** Extracts a tarball into `dir` and returns `{ files, manifest, root }` (root = `<dir>/package`). */
export async function unpack(tarball, dir) {
  mkdirSync(dir, { recursive: true });
  await run(["tar", "-xzf", tarball, "-C", dir], { timeoutMs: 60_000 });
  const { stdout } = await run(["tar", "-tzf", tarball], { timeoutMs: 60_000 });
  const files = stdout
    .split("\n")
    .filter(Boolean)
    .map((f) => f.replace(/^package\//, ""));
  const root = join(dir, "package");
  return { files, manifest: JSON.parse(readFileSync(join(root, "package.json"), "utf8")), root };
}

/** Every file path an `exports` map (and main/module/types) points at, without `skipConditions`. */
export function exportTargets(manifest, skipConditions = ["@eventferry/source"]) {
  const targets = new Set();
  const walk = (node) => {
    if (typeof node === "string") targets.add(node);
    else if (node && typeof node === "object") {
      for (const [key, value] of Object.entries(node)) if (!skipConditions.includes(key)) walk(value);
    }
  };
  walk(manifest.exports);
  for (const field of ["main", "module", "types", "typings"])
    if (manifest[field]) targets.add(manifest[field]);
  return [...targets].map((t) => t.replace(/^\.\//, ""));
}

/** True when `version` is inside a `^x.y.z`, `~x.y.z` or exact range (all this repo writes). */
export function satisfiesSimple(range, version) {
  const m = /^([\^~]?)(\d+)\.(\d+)\.(\d+)(-[\w.]+)?$/.exec(range.trim());
  const v = /^(\d+)\.(\d+)\.(\d+)(-[\w.]+)?$/.exec(version);
  if (!m || !v) return false;
  const [, op, ...rb] = m;
  const r = rb.slice(0, 3).map(Number);
  const x = v.slice(1, 4).map(Number);
  if ((m[5] ?? "") !== (v[4] ?? "") && (m[5] || v[4])) return range.trim().replace(/^[\^~]/, "") === version;
  const cmp = (a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];
  if (cmp(x, r) < 0) return false;
  if (op === "") return cmp(x, r) === 0;
  if (op === "~") return x[0] === r[0] && x[1] === r[1];
  // caret: the left-most non-zero part is fixed
  if (r[0] > 0) return x[0] === r[0];
  if (r[1] > 0) return x[0] === 0 && x[1] === r[1];
  return x[0] === 0 && x[1] === 0 && x[2] === r[2];
}

/** Seconds with one decimal. */
export const secs = (ms) => `${(ms / 1000).toFixed(1)} s`;
