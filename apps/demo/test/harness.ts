// Starts the demo in-process on a free port and drives it with fetch.
import { silentLogger } from "eventferry";
import { type DemoApp, startApp } from "../src/app.js";
import { type DemoConfig, demoDefaults } from "../src/config.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789";

/** A response; `body` is parsed JSON (or text), asserted shape by shape in the tests. */
export interface Reply {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: each test asserts the shape it reads
  readonly body: any;
  readonly headers: Headers;
}

export interface TestApp {
  readonly app: DemoApp;
  readonly url: string;
  /** fetch → { status, body (parsed JSON, or text) , headers }. */
  call(
    method: string,
    path: string,
    options?: { json?: unknown; raw?: string; headers?: Record<string, string> },
  ): Promise<Reply>;
  admin(method: string, path: string): Promise<Reply>;
}

/** Starts the app with quick retries, no webhook randomness unless `random` says so. */
export async function startTestApp(
  overrides: Partial<DemoConfig> = {},
  random: () => number = () => 1,
): Promise<TestApp> {
  const config: DemoConfig = {
    ...demoDefaults,
    store: "memory:",
    transport: "memory:",
    port: 0,
    logLevel: "silent",
    retryAttempts: 3,
    retryDelayMs: 1,
    webhookFailureRate: 0.3,
    renewalDelayMs: 30_000,
    shutdownTimeoutMs: 2_000,
    ...overrides,
  };
  const app = await startApp(config, { logger: silentLogger, ferryLogger: silentLogger, random });
  const call: TestApp["call"] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined = options.raw;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers["content-type"] ??= "application/json";
    } else if (body !== undefined) {
      headers["content-type"] ??= "application/json";
    }
    const res = await fetch(`${app.url}${path}`, { method, headers, body });
    const text = await res.text();
    const type = res.headers.get("content-type") ?? "";
    return {
      status: res.status,
      body: type.startsWith("application/json") ? JSON.parse(text) : text,
      headers: res.headers,
    };
  };
  return {
    app,
    url: app.url,
    call,
    admin: (method, path) => call(method, path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }),
  };
}

/** Polls `check` until it returns a value other than undefined/false (for delayed events and retries). */
export async function eventually<T>(
  check: () => Promise<T | undefined | false>,
  { timeoutMs = 5_000, intervalMs = 10 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export const anOrder = (customerId: string, extra: Record<string, unknown> = {}) => ({
  customerId,
  email: `${customerId}@example.com`,
  phone: "+15550100",
  items: [
    { sku: "book", quantity: 2, unitPrice: 12.5 },
    { sku: "pen", quantity: 1, unitPrice: 3 },
  ],
  ...extra,
});
