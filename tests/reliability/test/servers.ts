// Stopping, killing and restarting the local Redis and NATS (the commands of the machine notes),
// waiting until they answer again, and putting them back whatever a scenario did.
import { execSync } from "node:child_process";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Redis } from "ioredis";
import { NATS_URL, REDIS_URL, sleep } from "./harness.js";

export const REDIS_START =
  'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log';
export const NATS_START =
  "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log";

/** True when Redis answers PING within `ms`. */
export async function redisAnswers(ms = 1_000): Promise<boolean> {
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: ms,
    commandTimeout: ms,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on("error", () => {});
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}

/** True when NATS answers with JetStream enabled within `ms`. */
export async function natsAnswers(ms = 2_000): Promise<boolean> {
  try {
    const nc = await connect({ servers: NATS_URL, timeout: ms, reconnect: false });
    try {
      const jsm = await jetstreamManager(nc, { timeout: ms });
      await jsm.getAccountInfo();
      return true;
    } finally {
      await nc.close().catch(() => {});
    }
  } catch {
    return false;
  }
}

export async function waitUntil(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`${what} did not answer within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - started;
}

/** `SHUTDOWN NOSAVE`, and resolves once the port no longer answers. */
export async function stopRedis(): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on("error", () => {});
  await redis.call("SHUTDOWN", "NOSAVE").catch(() => {}); // the connection closes under the reply
  redis.disconnect();
  await waitUntil(async () => !(await redisAnswers(300)), 10_000, "Redis shutdown");
}

export async function startRedis(): Promise<number> {
  execSync(REDIS_START, { stdio: "ignore" });
  return waitUntil(() => redisAnswers(), 20_000, "Redis");
}

export function natsPid(): number | undefined {
  try {
    const out = execSync("pgrep -x nats-server", { encoding: "utf8" }).trim();
    const pid = Number(out.split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // pgrep exits 1 when nothing matches
  }
}

/** SIGKILL the nats-server process and waits until it is gone. */
export async function killNats(): Promise<void> {
  const pid = natsPid();
  if (pid === undefined) throw new Error("no nats-server process to kill");
  process.kill(pid, "SIGKILL");
  await waitUntil(async () => natsPid() === undefined, 10_000, "nats-server exit");
}

export async function startNats(): Promise<number> {
  execSync(NATS_START, { stdio: "ignore" });
  return waitUntil(() => natsAnswers(), 30_000, "NATS (JetStream)");
}

/** Starts Redis and NATS if they do not answer (afterEach/afterAll of every scenario that stops them). */
export async function restoreServers(): Promise<void> {
  if (!(await redisAnswers(2_000))) {
    // A server may still be shutting down: wait for the port to free before starting another.
    await sleep(500);
    if (!(await redisAnswers(2_000))) await startRedis();
  }
  if (!(await natsAnswers(3_000))) {
    if (natsPid() === undefined) await startNats();
    else await waitUntil(() => natsAnswers(), 30_000, "NATS (JetStream)");
  }
}
