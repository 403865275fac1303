#!/usr/bin/env node
// Checks that the local PostgreSQL, Redis and NATS (JetStream) answer at the protocol level, and
// starts one that is installed but down.
//
//   node tooling/services/services.mjs check    exit 1 if any server does not answer
//   node tooling/services/services.mjs ensure   start what is down; under CI=true a server that
//                                               still does not answer fails the run, otherwise
//                                               integration tests skip it with a hint
//
// URLs come from EVENTFERRY_TEST_POSTGRES_URL / _REDIS_URL / _NATS_URL (local defaults).
// No dependencies: plain sockets, so it runs before `pnpm install` too.
import { execSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import net from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

const env = process.env;
const services = [
  {
    name: "postgres",
    url: env.EVENTFERRY_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test",
    // SSLRequest: the server answers one byte, 'S' or 'N'.
    hello: Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]),
    ok: (b) => b.length > 0 && (b[0] === 0x4e || b[0] === 0x53),
    start: () => {
      const dir = "/etc/postgresql";
      if (!existsSync(dir)) return null;
      const version = readdirSync(dir)[0];
      return `pg_ctlcluster --skip-systemctl-redirect ${version} main start`;
    },
  },
  {
    name: "redis",
    url: env.EVENTFERRY_TEST_REDIS_URL ?? "redis://127.0.0.1:6379",
    hello: Buffer.from("PING\r\n"),
    ok: (b) => b.toString().startsWith("+PONG") || b.toString().startsWith("-NOAUTH"),
    start: () =>
      existsSync("/usr/bin/redis-server")
        ? `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log`
        : null,
  },
  {
    name: "nats",
    url: env.EVENTFERRY_TEST_NATS_URL ?? "nats://127.0.0.1:4222",
    hello: null, // the server speaks first: INFO {...}
    ok: (b) => b.toString().startsWith("INFO ") && b.toString().includes('"jetstream":true'),
    start: () =>
      existsSync("/usr/sbin/nats-server")
        ? "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
        : null,
  },
];

function hostPort(url, defaultPort) {
  const u = new URL(url.replace(/^[a-z]+:/, "http:"));
  return { host: u.hostname || "127.0.0.1", port: Number(u.port || defaultPort) };
}

const defaultPorts = { postgres: 5432, redis: 6379, nats: 4222 };

/** Resolves true when the server answers its protocol's hello within `ms`. */
function probe(service, ms = 2000) {
  const { host, port } = hostPort(service.url, defaultPorts[service.name]);
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let buf = Buffer.alloc(0);
    const done = (v) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on("connect", () => service.hello && socket.write(service.hello));
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      if (service.ok(buf)) done(true);
      else if (buf.includes("\n") || service.name === "postgres") done(false);
    });
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
  });
}

async function main() {
  const mode = process.argv[2] ?? "check";
  if (!["check", "ensure"].includes(mode)) {
    console.error("usage: services.mjs check|ensure");
    process.exit(2);
  }
  const ci = env.CI === "true" || env.CI === "1";
  let failed = false;
  for (const s of services) {
    let up = await probe(s);
    if (!up && mode === "ensure") {
      const cmd = s.start();
      if (cmd) {
        console.log(`[services] ${s.name} is down; starting: ${cmd}`);
        try {
          execSync(cmd, { stdio: "inherit" });
        } catch (e) {
          console.log(`[services] ${s.name}: start command failed: ${e.message}`);
        }
        for (let i = 0; i < 30 && !up; i++) {
          await sleep(500);
          up = await probe(s);
        }
      } else {
        console.log(`[services] ${s.name} is down and not installed here`);
      }
    }
    console.log(`[services] ${s.name.padEnd(8)} ${up ? "answers" : "DOES NOT ANSWER"}  (${redact(s.url)})`);
    if (!up) failed = true;
  }
  if (failed && (mode === "check" || ci)) {
    console.error(
      "[services] a server does not answer; integration tests need it" + (ci ? " (CI=true: failing)" : ""),
    );
    process.exit(1);
  }
  if (failed)
    console.log(
      "[services] integration tests for the missing servers will be skipped (set CI=true to fail instead)",
    );
}

function redact(url) {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, "//$1:***@");
}

await main();
