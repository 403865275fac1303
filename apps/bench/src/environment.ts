/** The machine and the versions a benchmark ran with, for the report and BENCHMARKS.md. */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { peerVersions } from "./peers.js";

/** What {@link environment} reports. */
export interface Environment {
  readonly cores: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly versions: Readonly<Record<string, string>>;
}

const BENCH_DIR = fileURLToPath(new URL("../", import.meta.url));

function packageVersion(pkg: string): string {
  const manifest = join(BENCH_DIR, "node_modules", pkg, "package.json");
  if (!existsSync(manifest)) return "?";
  return (JSON.parse(readFileSync(manifest, "utf8")) as { version?: string }).version ?? "?";
}

/** Asks a server for its version through its CLI-free protocol, in a child process (keeps main free of drivers). */
function serverVersions(): Record<string, string> {
  const script = `
    import pg from "pg"; import { Redis } from "ioredis"; import { connect } from "@nats-io/transport-node";
    import Database from "better-sqlite3";
    const out = {};
    try { const c = new pg.Client({ connectionString: process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test" });
      await c.connect(); out.postgres = (await c.query("SHOW server_version")).rows[0].server_version; await c.end(); } catch {}
    try { const r = new Redis(process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379", { lazyConnect: true, maxRetriesPerRequest: 1 });
      await r.connect(); out.redis = /redis_version:([^\\r\\n]+)/.exec(await r.info("server"))?.[1]; r.disconnect(); } catch {}
    try { const nc = await connect({ servers: process.env.BENCH_NATS_URL ?? "nats://127.0.0.1:4222", timeout: 2000 });
      out["nats-server"] = nc.info?.version; await nc.close(); } catch {}
    try { const db = new Database(":memory:"); out.sqlite = db.prepare("select sqlite_version() as v").get().v; db.close(); } catch {}
    process.stdout.write(JSON.stringify(out));`;
  try {
    const stdout = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      cwd: BENCH_DIR,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
      timeout: 15_000,
    });
    return JSON.parse(stdout) as Record<string, string>;
  } catch {
    return {};
  }
}

/**
 * The machine (cores, CPU model, memory) and the versions of Node, the drivers, the servers and,
 * when they were used, the peers.
 *
 * @example
 * environment(false).cores; // 2
 */
export function environment(withPeers: boolean): Environment {
  const versions: Record<string, string> = { node: process.version };
  for (const pkg of [
    "pg",
    "ioredis",
    "better-sqlite3",
    "@nats-io/transport-node",
    "@nats-io/jetstream",
    "zod",
  ]) {
    versions[pkg] = packageVersion(pkg);
  }
  Object.assign(versions, serverVersions());
  if (withPeers) Object.assign(versions, peerVersions());
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "?",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    versions,
  };
}
