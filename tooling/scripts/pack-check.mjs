#!/usr/bin/env node
// Packs every publishable package with `pnpm pack` (so `workspace:^` becomes a real range, as on
// publish), checks each tarball, then installs the tarballs with npm into fresh projects, as a user
// would, and runs a small program in each:
//   (a) eventferry + @eventferry/store-sqlite           — ESM program, sqlite: store + store: transport;
//       must not pull in pg, ioredis or NATS
//   (b) eventferry + store-postgres + transport-redis    — CommonJS program (require), PostgreSQL + Redis
//   (c) eventferry + store-postgres + transport-nats + metrics — TypeScript: `tsc` with node16
//       resolution (an ESM .ts and a CommonJS .cts file; `@ts-expect-error` lines prove event.data is
//       typed; emits only when clean), `tsc --noEmit` with bundler resolution, then the compiled
//       program on PostgreSQL + NATS
// and prints the installed size of each project. Exits 1 on any failure.
//
// Assumes the packages are built (`turbo run build`). Needs PostgreSQL, Redis and NATS for (b), (c)
// (EVENTFERRY_TEST_POSTGRES_URL / _REDIS_URL / _NATS_URL, defaults on 127.0.0.1).
//
// Options: --only=a,c (scenarios to run) · --keep (keep the temporary folder) · --pack-only (pack and
// check the tarballs, install nothing).
// Env: PNPM (the pnpm command, default `npx -y pnpm@<packageManager>`), PACK_CHECK_DRIVERS (extra
// `name@range` specs that replace the defaults, e.g. `better-sqlite3@11`), npm_config_nodedir (defaults
// to /usr here so better-sqlite3 compiles offline against the local headers).
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CheckError,
  catalogVersions,
  exportTargets,
  mapLimit,
  pnpmCommand,
  pnpmPack,
  publishablePackages,
  run,
  satisfiesSimple,
  secs,
  unpack,
} from "./lib/workspace.mjs";

const args = new Set(process.argv.slice(2));
const only = process.argv
  .slice(2)
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",");
const keep = args.has("--keep");
const packOnly = args.has("--pack-only");

const PG_URL = process.env.EVENTFERRY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.EVENTFERRY_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const NATS_URL = process.env.EVENTFERRY_TEST_NATS_URL ?? "nats://127.0.0.1:4222";

const timings = [];
const time = async (label, fn) => {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    timings.push([label, Date.now() - started]);
  }
};
const log = (line) => console.log(line);

// ---------------------------------------------------------------------------------------------
// Versions of what a user adds beside the packages: the repository's catalog (what the tests run
// against), overridable with PACK_CHECK_DRIVERS.
const catalog = catalogVersions();
const driverSpec = (name, fallback) => {
  const override = (process.env.PACK_CHECK_DRIVERS ?? "")
    .split(/\s+/)
    .filter(Boolean)
    .find((spec) => spec.slice(0, spec.indexOf("@", 1)) === name);
  return override ?? `${name}@${catalog[name] ?? fallback}`;
};

const FORBIDDEN_EVERYWHERE = ["vitest", "@eventferry-internal/", "tsup", "@changesets/"];

/** The scenarios: which packages, what a user adds, what must not be installed, and the program. */
const scenarios = [
  {
    id: "a",
    title: "eventferry + store-sqlite (ESM)",
    roots: ["eventferry", "@eventferry/store-sqlite"],
    extras: () => [driverSpec("zod", "^4.1.0"), driverSpec("better-sqlite3", "12.11.1")],
    type: "module",
    forbidden: ["pg", "pg-pool", "ioredis", "@nats-io/", "@opentelemetry/", "typescript"],
    files: (id) => ({ "main.mjs": programA(id) }),
    steps: [{ argv: ["node", "main.mjs"], expect: "a" }],
  },
  {
    id: "b",
    title: "eventferry + store-postgres + transport-redis (CommonJS)",
    roots: ["eventferry", "@eventferry/store-postgres", "@eventferry/transport-redis"],
    extras: () => [driverSpec("zod", "^4.1.0"), driverSpec("pg", "8.23.1"), driverSpec("ioredis", "5.11.1")],
    type: "commonjs",
    forbidden: ["better-sqlite3", "@nats-io/", "typescript"],
    files: (id) => ({ "main.cjs": programB(id) }),
    steps: [{ argv: ["node", "main.cjs"], expect: "b" }],
  },
  {
    id: "c",
    title: "eventferry + store-postgres + transport-nats + metrics (TypeScript)",
    roots: ["eventferry", "@eventferry/store-postgres", "@eventferry/transport-nats", "@eventferry/metrics"],
    extras: () => [
      driverSpec("zod", "^4.1.0"),
      driverSpec("pg", "8.23.1"),
      driverSpec("@nats-io/transport-node", "3.3.1"),
      driverSpec("@nats-io/jetstream", "3.3.1"),
      driverSpec("typescript", "5.9.3"),
      driverSpec("@types/node", "^20.19.0"),
      driverSpec("@types/pg", "^8.15.0"),
    ],
    type: "module",
    forbidden: ["better-sqlite3", "ioredis"],
    files: (id) => ({
      "src/main.ts": programC(id),
      "src/check-cjs.cts": programCjsTypes(),
      "tsconfig.json": JSON.stringify(tsconfigNode16, null, 2),
      "tsconfig.bundler.json": JSON.stringify(tsconfigBundler, null, 2),
    }),
    steps: [
      // node16 + a .cts file: type-checks, and emits build/ only when clean (noEmitOnError).
      {
        argv: ["node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.json"],
        label: "tsc (node16, ESM + CJS)",
      },
      {
        argv: ["node", "node_modules/typescript/bin/tsc", "--noEmit", "-p", "tsconfig.bundler.json"],
        label: "tsc --noEmit (bundler)",
      },
      { argv: ["node", "build/main.js"], expect: "c" },
    ],
  },
];

const tsconfigNode16 = {
  compilerOptions: {
    target: "ES2022",
    module: "node16",
    moduleResolution: "node16",
    strict: true,
    skipLibCheck: false,
    noEmitOnError: true,
    outDir: "build",
    rootDir: "src",
    types: ["node"],
  },
  include: ["src"],
};
const tsconfigBundler = {
  compilerOptions: {
    target: "ES2022",
    module: "esnext",
    moduleResolution: "bundler",
    strict: true,
    skipLibCheck: false,
    noEmit: true,
    types: ["node"],
  },
  include: ["src/main.ts"],
};

// ---------------------------------------------------------------------------------------------
// The programs. Each prints one JSON line starting with RESULT that the check compares.

function programA(id) {
  return `// (a) ESM, as a user writes it: sqlite: store, store: transport (the database is the queue).
import { createEventferry, defineEvent, silentLogger } from "eventferry";
import { z } from "zod";

const projectUrl = new URL("./", import.meta.url).href;
const Pinged = defineEvent("pack.pinged", z.object({ n: z.number(), who: z.string() }));
const ferry = await createEventferry({
  store: "sqlite:./data/${id}.db",
  transport: "store:",
  group: "pack-check",
  logger: silentLogger,
  pollInterval: "100ms",
});
const handled = [];
ferry.on(Pinged, async (event) => {
  handled.push(\`\${event.data.who}:\${event.data.n * 2}\`);
});
await ferry.start();
await ferry.publish(Pinged, { n: 21, who: "a" });
await ferry.whenIdle({ timeout: "20s" });
const logged = [];
for await (const e of ferry.read({ types: ["pack.pinged"] })) logged.push(e.type);
const store = ferry.store.name;
const transport = ferry.transport.name;
await ferry.stop();

// A store this project did not install: a clear error naming the package to install.
let missing;
try {
  await createEventferry({ store: "postgres://127.0.0.1:1/none", transport: "memory:", logger: silentLogger });
  missing = "no error";
} catch (error) {
  missing = \`\${error.name}:\${error.code}:\${/npm install @eventferry\\/store-postgres/.test(error.message)}\`;
}

// Everything resolves inside this project (not the monorepo).
const resolved = ["eventferry", "@eventferry/store-sqlite", "better-sqlite3"].every((p) =>
  import.meta.resolve(p).startsWith(projectUrl),
);
console.log("RESULT " + JSON.stringify({ handled, logged, store, transport, missing, resolved }));
`;
}

function programB(id) {
  return `// (b) CommonJS, as a user writes it: PostgreSQL store + Redis Streams transport.
"use strict";
const { createEventferry, defineEvent, silentLogger } = require("eventferry");
const redisTransport = require("@eventferry/transport-redis");
const { z } = require("zod");
const pg = require("pg");
const Redis = require("ioredis");

const ID = "${id}";
const PG_URL = ${JSON.stringify(PG_URL)};
const REDIS_URL = ${JSON.stringify(REDIS_URL)};
const withParam = (url, k, v) => url + (url.includes("?") ? "&" : "?") + k + "=" + encodeURIComponent(v);

async function main() {
  const Paid = defineEvent("pack.paid", z.object({ orderId: z.string(), cents: z.number().int() }));
  const handled = [];
  let ferry;
  try {
    ferry = await createEventferry({
      store: withParam(PG_URL, "schema", ID),
      transport: withParam(REDIS_URL, "prefix", ID),
      group: "pack-check",
      logger: silentLogger,
    });
    ferry.on(Paid, async (event, ctx) => {
      handled.push(event.data.orderId + ":" + event.data.cents);
      await ctx.tx.query("select 1");
    });
    await ferry.start();
    await ferry.publish(Paid, { orderId: "o-b", cents: 4200 });
    await ferry.whenIdle({ timeout: "20s" });
    const out = {
      handled,
      store: ferry.store.name,
      transport: ferry.transport.name,
      exports: ["createTransportFromUrl", "createRedisTransport"].filter((n) => typeof redisTransport[n] === "function"),
      resolved: ["eventferry", "@eventferry/store-postgres", "@eventferry/transport-redis", "pg", "ioredis"].every((p) =>
        require.resolve(p).startsWith(__dirname),
      ),
    };
    await ferry.stop();
    ferry = undefined;
    console.log("RESULT " + JSON.stringify(out));
  } finally {
    if (ferry) await ferry.stop({ timeout: "2s" }).catch(() => {});
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    await client.query('drop schema if exists "' + ID + '" cascade');
    await client.end();
    const redis = new Redis(REDIS_URL, { lazyConnect: true });
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", ID + ":*", "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
    redis.disconnect();
  }
}
main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
`;
}

function programC(id) {
  return `// (c) TypeScript (ESM, node16 resolution): PostgreSQL store + NATS JetStream transport + metrics.
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { metricsPlugin } from "@eventferry/metrics";
import { createNatsTransport } from "@eventferry/transport-nats";
import { createEventferry, defineEvent, type Eventferry, silentLogger } from "eventferry";
import pg from "pg";
import { z } from "zod";

const ID = "${id}";
const PG_URL = ${JSON.stringify(PG_URL)};
const NATS_URL = ${JSON.stringify(NATS_URL)};

const Shipped = defineEvent("pack.shipped", z.object({ orderId: z.string(), parcels: z.number() }));

/** Never called: only here so that tsc proves the types bite. */
export function typesOnly(ferry: Eventferry): void {
  ferry.on(Shipped, async (event) => {
    const parcels: number = event.data.parcels;
    const orderId: string = event.data.orderId;
    // @ts-expect-error parcels is a number, not a string
    const wrong: string = event.data.parcels;
    // @ts-expect-error there is no such field
    void event.data.weight;
    void [parcels, orderId, wrong];
  });
  // @ts-expect-error parcels must be a number
  void ferry.publish(Shipped, { orderId: "o-1", parcels: "2" });
}

const handled: string[] = [];
const metrics = metricsPlugin();
const transport = createNatsTransport({ servers: NATS_URL, streamPrefix: ID, storage: "memory" });
let ferry: Eventferry | undefined;
try {
  ferry = await createEventferry({
    store: PG_URL + (PG_URL.includes("?") ? "&" : "?") + "schema=" + ID,
    transport,
    plugins: [metrics],
    group: "pack-check",
    logger: silentLogger,
  });
  ferry.on(Shipped, async (event) => {
    handled.push(\`\${event.data.orderId}:\${event.data.parcels + 1}\`);
  });
  await ferry.start();
  await ferry.publish(Shipped, { orderId: "o-c", parcels: 2 });
  await ferry.whenIdle({ timeout: "20s" });
  const snapshot = metrics.getMetrics();
  const prometheus = await metrics.toPrometheus();
  const out = {
    handled,
    store: ferry.store.name,
    transport: ferry.transport.name,
    processed: snapshot.processed,
    prometheus: /^eventferry_\\w+/m.test(prometheus),
  };
  await ferry.stop();
  ferry = undefined;
  console.log("RESULT " + JSON.stringify(out));
} finally {
  if (ferry) await ferry.stop({ timeout: "2s" }).catch(() => {});
  await transport.close().catch(() => {});
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  await client.query(\`drop schema if exists "\${ID}" cascade\`);
  await client.end();
  const nc = await connect({ servers: NATS_URL });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.delete(ID).catch(() => false);
  await nc.close();
}
`;
}

function programCjsTypes() {
  return `// (c) CommonJS typings: a .cts file resolves the packages' "require" conditions (index.d.cts).
import ef = require("eventferry");
import metrics = require("@eventferry/metrics");
import nats = require("@eventferry/transport-nats");
import { z } from "zod";

const Counted = ef.defineEvent("pack.counted", z.object({ n: z.number() }));

export function typesOnly(ferry: ef.Eventferry): void {
  ferry.on(Counted, async (event) => {
    const n: number = event.data.n;
    // @ts-expect-error n is a number
    const s: string = event.data.n;
    void [n, s];
  });
  void metrics.metricsPlugin;
  void nats.createNatsTransport;
}
`;
}

const EXPECTED = {
  a: (r) =>
    same(r.handled, ["a:42"]) &&
    same(r.logged, ["pack.pinged"]) &&
    r.store === "sqlite" &&
    r.missing === "ConfigError:ADAPTER_MISSING:true" &&
    r.resolved === true,
  b: (r) =>
    same(r.handled, ["o-b:4200"]) &&
    r.store === "postgres" &&
    /redis/.test(r.transport) &&
    same(r.exports, ["createTransportFromUrl", "createRedisTransport"]) &&
    r.resolved === true,
  c: (r) =>
    same(r.handled, ["o-c:3"]) &&
    r.store === "postgres" &&
    /nats/.test(r.transport) &&
    r.processed === 1 &&
    r.prometheus === true,
};
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

// ---------------------------------------------------------------------------------------------

async function main() {
  const started = Date.now();
  const pnpm = pnpmCommand();
  const packages = publishablePackages();
  if (packages.length === 0) throw new CheckError("no publishable package found");
  log(`pack-check: ${packages.length} publishable packages: ${packages.map((p) => p.name).join(", ")}`);

  for (const p of packages) {
    const missing = exportTargets(p.manifest).filter((t) => !existsSync(join(p.dir, t)));
    if (missing.length) {
      throw new CheckError(
        `${p.name} is not built (missing ${missing.join(", ")}); run \`pnpm exec turbo run build\` first`,
      );
    }
  }

  const work = mkdtempSync(join(tmpdir(), "eventferry-pack-"));
  log(`work folder: ${work}${keep ? " (kept)" : ""}`);
  let ok = false;
  try {
    const tarballs = await time("pnpm pack (all)", () =>
      mapLimit(packages, 4, async (p) => ({
        ...p,
        tarball: await pnpmPack(p, join(work, "tarballs"), { pnpm }),
      })),
    );
    const { packed, problems } = await time("tarball checks", () =>
      checkTarballs(tarballs, join(work, "unpacked")),
    );
    const failures = [];
    if (problems.length) {
      // Reported now and failed at the end, so the scenarios still tell what they can.
      const message = `tarball checks failed:\n  - ${problems.join("\n  - ")}`;
      console.error(`\n✗ ${message}\n`);
      failures.push(["tarballs", new CheckError(message)]);
    } else {
      log(`[pack] ${packed.size} tarballs packed and checked`);
    }

    if (!packOnly) {
      const chosen = scenarios.filter((s) => !only || only.includes(s.id));
      const results = await Promise.allSettled(chosen.map((s) => runScenario(s, packed, work)));
      results.forEach((r, i) => {
        if (r.status === "rejected") {
          failures.push([`(${chosen[i].id})`, r.reason]);
          console.error(`\n✗ scenario (${chosen[i].id}) failed: ${r.reason?.message ?? r.reason}`);
        }
      });
      const sizes = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      if (sizes.length) printFootprint(sizes);
    }
    if (failures.length) throw new CheckError(`failed: ${failures.map(([what]) => what).join(", ")}`);
    ok = true;
  } finally {
    log("\ntimings:");
    for (const [label, ms] of timings) log(`  ${label.padEnd(48)} ${secs(ms).padStart(8)}`);
    log(`  ${"total".padEnd(48)} ${secs(Date.now() - started).padStart(8)}`);
    if (!keep && ok) rmSync(work, { recursive: true, force: true });
    else log(`work folder left for inspection: ${work}`);
  }
  log("\npack-check: OK");
}

/** Checks each tarball; returns `packed` (name → { tarball, manifest, files }) and the problems found. */
async function checkTarballs(tarballs, dir) {
  const byName = new Map();
  const problems = [];
  await mapLimit(tarballs, 4, async (p) => {
    const { files, manifest, root } = await unpack(p.tarball, join(dir, p.name.replace("/", "__")));
    byName.set(p.name, { ...p, manifest, files, root });
  });
  const versions = new Map([...byName.values()].map((p) => [p.name, p.manifest.version]));
  for (const p of byName.values()) {
    const m = p.manifest;
    const say = (what) => problems.push(`${p.name}: ${what}`);
    for (const f of ["package.json", "README.md", "LICENSE"])
      if (!p.files.includes(f)) say(`tarball lacks ${f}`);
    for (const t of exportTargets(m))
      if (!p.files.includes(t)) say(`exports/main/types point at ${t}, not in the tarball`);
    const stray = p.files.filter(
      (f) =>
        f.startsWith("src/") ||
        f.startsWith("test/") ||
        /\.(test|test-d|int\.test)\.[cm]?[jt]s$/.test(f) ||
        f.endsWith(".tgz"),
    );
    if (stray.length) say(`tarball ships sources or tests: ${stray.slice(0, 5).join(", ")}`);
    // A dependency bundled into dist (tsup inlines what package.json does not declare).
    const bundled = new Set();
    for (const f of p.files.filter((x) => x.endsWith(".map"))) {
      const sources = JSON.parse(readFileSync(join(p.root, f), "utf8")).sources ?? [];
      for (const src of sources) {
        const hit = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(src);
        if (hit) bundled.add(hit[1]);
      }
    }
    if (bundled.size) {
      say(`dist bundles ${[...bundled].join(", ")}: declare it in dependencies or peerDependencies`);
    }
    if (m.license !== "MIT") say(`license is ${m.license}`);
    if (!m.engines?.node) say("no engines.node");
    if (!m.repository) say("no repository");
    if (m.publishConfig?.access !== "public" && m.name.startsWith("@"))
      say("publishConfig.access is not public");
    if (!m.exports?.["."]?.import?.types || !m.exports?.["."]?.require?.types)
      say("exports lack import/require types");
    for (const field of ["dependencies", "peerDependencies", "optionalDependencies"]) {
      for (const [dep, range] of Object.entries(m[field] ?? {})) {
        if (/^(workspace|catalog|link|file):/.test(range))
          say(`${field}.${dep} is still "${range}" after packing`);
        if (dep.startsWith("@eventferry-internal/")) say(`${field}.${dep}: a private package`);
        if (versions.has(dep) && !satisfiesSimple(range, versions.get(dep))) {
          say(`${field}.${dep} "${range}" does not accept the packed ${dep}@${versions.get(dep)}`);
        }
        if (
          (dep === "eventferry" || dep.startsWith("@eventferry/")) &&
          !versions.has(dep) &&
          field !== "peerDependencies"
        ) {
          say(`${field}.${dep} is not a publishable package of this workspace`);
        }
      }
    }
  }
  const distinct = new Set(versions.values());
  if (distinct.size > 1) problems.push(`versions differ across the fixed group: ${[...distinct].join(", ")}`);
  return { packed: byName, problems };
}

/** The scenario's packages plus their internal dependencies, from the packed manifests. */
function closure(roots, packed) {
  const out = new Set();
  const visit = (name) => {
    if (out.has(name)) return;
    const p = packed.get(name);
    if (!p) throw new CheckError(`scenario needs ${name}, which is not a publishable package`);
    out.add(name);
    for (const dep of Object.keys(p.manifest.dependencies ?? {})) if (packed.has(dep)) visit(dep);
  };
  for (const r of roots) visit(r);
  return [...out];
}

async function runScenario(s, packed, work) {
  const tag = `[${s.id}]`;
  const dir = join(work, `project-${s.id}`);
  const id = `pack_${s.id}_${randomBytes(4).toString("hex")}`;
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "package.json"),
    `${JSON.stringify({ name: `pack-check-${s.id}`, version: "0.0.0", private: true, type: s.type }, null, 2)}\n`,
  );
  for (const [file, text] of Object.entries(s.files(id))) {
    mkdirSync(join(dir, file, ".."), { recursive: true });
    writeFileSync(join(dir, file), text);
  }
  const ours = closure(s.roots, packed);
  const specs = [...ours.map((n) => packed.get(n).tarball), ...s.extras()];
  log(`${tag} ${s.title}: npm install ${ours.join(" ")} + ${s.extras().join(" ")}`);
  const env = {
    npm_config_nodedir: process.env.npm_config_nodedir ?? "/usr",
    npm_config_update_notifier: "false",
    npm_config_fund: "false",
    npm_config_audit: "false",
  };
  const install = await time(`(${s.id}) npm install`, () =>
    run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", ...specs], {
      cwd: dir,
      env,
      timeoutMs: 240_000,
    }),
  );
  log(`${tag} installed in ${secs(install.ms)}`);

  // What got installed: the lockfile lists every package folder.
  const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
  const installed = Object.keys(lock.packages ?? {})
    .filter((k) => k.includes("node_modules/"))
    .map((k) => k.slice(k.lastIndexOf("node_modules/") + "node_modules/".length));
  // Every eventferry package must come from the tarballs, never from a registry.
  const fromRegistry = Object.entries(lock.packages ?? {})
    .filter(
      ([k, v]) =>
        /node_modules\/(eventferry|@eventferry\/[^/]+)$/.test(k) && !v.resolved?.startsWith("file:"),
    )
    .map(([k, v]) => `${k} (${v.resolved ?? "no resolved"})`);
  if (fromRegistry.length)
    throw new CheckError(`${tag} not installed from the tarballs: ${fromRegistry.join(", ")}`);
  const bad = installed.filter((n) =>
    [...s.forbidden, ...FORBIDDEN_EVERYWHERE].some((f) => (f.endsWith("/") ? n.startsWith(f) : n === f)),
  );
  if (bad.length) throw new CheckError(`${tag} must not install ${[...new Set(bad)].join(", ")}`);
  const extraOurs = installed.filter(
    (n) => (n === "eventferry" || n.startsWith("@eventferry/")) && !ours.includes(n),
  );
  if (extraOurs.length)
    throw new CheckError(`${tag} installed packages it should not need: ${extraOurs.join(", ")}`);
  log(`${tag} none of ${[...s.forbidden, ...FORBIDDEN_EVERYWHERE].join(", ")} installed`);

  for (const step of s.steps) {
    const label = step.label ?? step.argv.join(" ");
    const result = await time(`(${s.id}) ${label}`, () =>
      run(step.argv, { cwd: dir, env: { ...env, NODE_ENV: "production" }, timeoutMs: 90_000 }),
    );
    if (step.expect) {
      const line = result.stdout.split("\n").find((l) => l.startsWith("RESULT "));
      if (!line)
        throw new CheckError(`${tag} ${label} printed no RESULT line:\n${result.stdout}\n${result.stderr}`);
      const value = JSON.parse(line.slice("RESULT ".length));
      if (!EXPECTED[step.expect](value)) throw new CheckError(`${tag} ${label}: unexpected result ${line}`);
      log(`${tag} ${label}: ${line}`);
    } else {
      log(`${tag} ${label}: ok (${secs(result.ms)})`);
    }
  }

  // Dev-time tools a user installs as devDependencies (scenario c) are not part of the runtime size.
  const devTools = installed
    .filter((n) => n === "typescript" || n.startsWith("@types/"))
    .map((n) => join(dir, "node_modules", n))
    .filter((d) => existsSync(d));
  const [total, oursSize, devSize] = await Promise.all([
    duBytes([join(dir, "node_modules")]),
    duBytes(
      ours.map((n) => join(dir, "node_modules", n)),
      true,
    ),
    devTools.length ? duBytes(devTools, true) : 0,
  ]);
  return {
    id: s.id,
    title: s.title,
    total,
    runtime: total - devSize,
    ours: oursSize,
    packages: installed.length,
    installMs: install.ms,
  };
}

async function duBytes(paths, sum = false) {
  const { stdout } = await run(["du", "-sb", ...paths], { timeoutMs: 60_000 });
  const values = stdout
    .trim()
    .split("\n")
    .map((l) => Number(l.split(/\s+/)[0]));
  return sum ? values.reduce((a, b) => a + b, 0) : values[0];
}

function printFootprint(rows) {
  const mb = (b) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  log("\ninstall footprint (du -sb node_modules, apparent size):");
  log(
    "| scenario | packages | node_modules | without typescript, @types/* | eventferry + @eventferry/* | npm install |",
  );
  log("|---|---:|---:|---:|---:|---:|");
  for (const r of rows.sort((x, y) => x.id.localeCompare(y.id))) {
    log(
      `| (${r.id}) ${r.title} | ${r.packages} | ${mb(r.total)} | ${mb(r.runtime)} | ${mb(r.ours)} | ${secs(r.installMs)} |`,
    );
  }
}

main().catch((error) => {
  console.error(
    `\npack-check FAILED: ${error instanceof CheckError ? error.message : (error?.stack ?? error)}`,
  );
  process.exit(1);
});
