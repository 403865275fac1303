import { readFileSync } from "node:fs";
import { defineEvent, type Logger } from "@eventferry/core";
import { createMemoryStore } from "@eventferry/store";
import { createEventferry } from "eventferry";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { loggingPlugin } from "../test/examples/logging-plugin.js";
import { metricsPlugin } from "./metrics-plugin.js";

const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
const example = readFileSync(new URL("../test/examples/logging-plugin.ts", import.meta.url), "utf8");

describe("the README's third-party plugin example", () => {
  it("is the code of test/examples/logging-plugin.ts, verbatim", () => {
    expect(readme).toContain(`\`\`\`ts\n${example}\`\`\``);
  });

  it("runs beside the metrics plugin: logs handling, retries and the dead letter", async () => {
    const lines: string[] = [];
    const log: Logger = {
      debug: (m) => void lines.push(`debug ${m}`),
      info: (m) => void lines.push(`info ${m}`),
      warn: (m) => void lines.push(`warn ${m}`),
      error: (m) => void lines.push(`error ${m}`),
    };
    const Signup = defineEvent("user.signed-up", z.object({ email: z.string() }));
    const metrics = metricsPlugin({ statsInterval: false });
    const store = createMemoryStore();
    const ferry = await createEventferry({
      store,
      transport: "memory:",
      pollInterval: 10,
      retry: { attempts: 2, backoff: "fixed", delay: 5 },
      plugins: [loggingPlugin(log), metrics],
    });
    try {
      ferry.on(
        Signup,
        async (event) => {
          if (event.data.email.endsWith("@bounce.test")) throw new Error("mailbox full");
        },
        { name: "welcome-mail" },
      );
      await ferry.start();
      await ferry.publish(Signup, { email: "ada@example.test" });
      await ferry.publish(Signup, { email: "bob@bounce.test" });
      await vi.waitFor(() => expect(lines.some((l) => l.startsWith("error "))).toBe(true), {
        timeout: 2_000,
      });
      await ferry.whenIdle();
    } finally {
      await ferry.stop();
      await store.close();
    }
    expect(lines).toEqual(
      expect.arrayContaining([
        "info logging on store memory, transport memory",
        "debug published 1 event(s)",
        "info welcome-mail handled user.signed-up",
        "warn welcome-mail failed on user.signed-up (attempt 1/2)",
        expect.stringMatching(/^info welcome-mail retries user\.signed-up at \d{4}-/),
        "warn welcome-mail failed on user.signed-up (attempt 2/2)",
        "error welcome-mail dead-lettered user.signed-up: max attempts (2) reached",
      ]),
    );
    expect(metrics.getMetrics()).toMatchObject({ processed: 1, failed: 2, retried: 1, deadLettered: 1 });
  });
});
