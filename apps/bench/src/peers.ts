/**
 * The peers (BullMQ, pg-boss, graphile-worker) are not dependencies of the workspace: pg-boss 12 and
 * graphile-worker 0.18 declare `engines: node >=22` and the workspace installs with engine-strict.
 * The harness installs them on first use into `apps/bench/.peers/` (gitignored), outside the
 * workspace, with npm and `--engine-strict=false` (they run on Node 20 without an error, see
 * the peer anchors), and loads them from there. CI never runs the bench, so this costs CI nothing.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The peer packages and the versions the anchors measured. */
export const PEER_PACKAGES = {
  bullmq: "6.7.0",
  "pg-boss": "12.38.0",
  "graphile-worker": "0.18.0",
} as const;

/** A peer package name. */
export type PeerPackage = keyof typeof PEER_PACKAGES;

/** `apps/bench/.peers` (the bundles run from `apps/bench/dist/`). */
export const PEERS_DIR = fileURLToPath(new URL("../.peers/", import.meta.url));

function installedVersion(pkg: PeerPackage): string | undefined {
  const manifest = join(PEERS_DIR, "node_modules", pkg, "package.json");
  if (!existsSync(manifest)) return undefined;
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version?: string }).version;
}

/**
 * Installs the peers into `apps/bench/.peers/` unless the pinned versions are there already.
 * Progress goes to stderr.
 *
 * @example
 * ensurePeers();
 */
export function ensurePeers(): void {
  const missing = (Object.keys(PEER_PACKAGES) as PeerPackage[]).filter(
    (pkg) => installedVersion(pkg) !== PEER_PACKAGES[pkg],
  );
  if (missing.length === 0) return;
  mkdirSync(PEERS_DIR, { recursive: true });
  const specs = (Object.keys(PEER_PACKAGES) as PeerPackage[]).map((pkg) => `${pkg}@${PEER_PACKAGES[pkg]}`);
  process.stderr.write(`installing peers into ${PEERS_DIR}: ${specs.join(" ")}\n`);
  execFileSync(
    "npm",
    [
      "install",
      "--prefix",
      PEERS_DIR,
      "--no-save",
      "--no-audit",
      "--no-fund",
      "--engine-strict=false",
      "--loglevel=error",
      ...specs,
    ],
    { stdio: ["ignore", "inherit", "inherit"], cwd: PEERS_DIR },
  );
}

/**
 * Loads a peer package from `apps/bench/.peers/` (CommonJS through `require`, ES modules through
 * `import()` of the package's main file). The caller gives the shape it uses: the peers bring no
 * types into the workspace.
 *
 * @example
 * const { Queue } = await loadPeer<{ Queue: QueueCtor }>("bullmq");
 */
export async function loadPeer<T>(pkg: PeerPackage): Promise<T> {
  const dir = join(PEERS_DIR, "node_modules", pkg);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as {
    main?: string;
    type?: string;
  };
  if (manifest.type !== "module") return createRequire(join(PEERS_DIR, "package.json"))(pkg) as T;
  return (await import(pathToFileURL(join(dir, manifest.main ?? "index.js")).href)) as T;
}

/** Versions of the installed peers, for the report. */
export function peerVersions(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pkg of Object.keys(PEER_PACKAGES) as PeerPackage[])
    out[pkg] = installedVersion(pkg) ?? "missing";
  return out;
}
