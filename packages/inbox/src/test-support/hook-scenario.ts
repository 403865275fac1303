// Test support (not exported): one scenario that exercises every inbox hook, for any store.
import { createEnvelope, defineEvent, type EventEnvelope, type Plugin } from "@eventferry/core";
import { expect } from "vitest";
import { z } from "zod";
import type { Inbox } from "../create-inbox.js";

export const HookEvent = defineEvent("hook.event", z.object({ n: z.number() }));

export interface HookRecord {
  hook: string;
  handler: string;
  attempt: number;
  eventId: string | undefined;
}

export interface HookRig {
  // biome-ignore lint/suspicious/noExplicitAny: any store's inbox (its client type does not matter here)
  inbox: Inbox<any>;
  send: (...events: EventEnvelope[]) => Promise<void>;
}

/**
 * Registers handlers `ok` (completes), `flaky` (fails attempt 1, then completes), `bad` (always
 * fails; 2 attempts) and batch handler `batch` (completes), sends a good event and one with
 * invalid data, and returns every hook call, once everything settled.
 */
export async function runHookScenario(
  make: (plugins: Plugin[]) => Promise<HookRig> | HookRig,
): Promise<{ records: HookRecord[]; good: EventEnvelope; invalid: EventEnvelope }> {
  const records: HookRecord[] = [];
  const plugin: Plugin = {
    name: "recorder",
    hooks: {
      onReceive: (e, i) => void records.push({ hook: "onReceive", ...i, eventId: e.id }),
      onProcessed: (e, i) =>
        void records.push({ hook: "onProcessed", handler: i.handler, attempt: i.attempt, eventId: e.id }),
      onRetry: (e, _err, _at, i) => void records.push({ hook: "onRetry", ...i, eventId: e.id }),
      onDeadLetter: (e, _err, i) =>
        void records.push({ hook: "onDeadLetter", handler: i.handler, attempt: i.attempt, eventId: e?.id }),
    },
  };
  const { inbox, send } = await make([plugin]);
  let flakyRuns = 0;
  inbox
    .handle(HookEvent, async () => {}, { name: "ok" })
    .handle(
      HookEvent,
      async () => {
        if (++flakyRuns === 1) throw new Error("once");
      },
      { name: "flaky", retry: { attempts: 3, backoff: "fixed", delay: 5 } },
    )
    .handle(
      HookEvent,
      async () => {
        throw new Error("always");
      },
      { name: "bad", retry: { attempts: 2, backoff: "fixed", delay: 5 } },
    )
    .handleBatch(HookEvent, async () => {}, { name: "batch", maxWait: 5 });
  await inbox.start();
  const good = createEnvelope(HookEvent, { n: 1 });
  const invalid = { ...createEnvelope(HookEvent, { n: 2 }), data: { n: "two" } } as EventEnvelope;
  await send(good, invalid);
  await inbox.whenProcessed(good.id, { timeout: "5s" });
  await inbox.whenProcessed(invalid.id, { timeout: "5s" });
  await inbox.whenIdle({ timeout: "5s" });
  return { records, good, invalid };
}

/** The hook calls the scenario must produce, whichever path (admission or claim) ran it. */
export function expectHookScenario(result: Awaited<ReturnType<typeof runHookScenario>>, group: string): void {
  const { records, good, invalid } = result;
  // Sorted: on the admission path the onRetry of attempt 1 is reported after its transaction
  // committed, which may be just after the dispatcher started attempt 2.
  const of = (handler: string) =>
    records
      .filter((r) => r.handler === handler && r.eventId === good.id)
      .map((r) => `${r.hook}@${r.attempt}`)
      .sort();
  expect(of("ok")).toEqual(["onProcessed@1", "onReceive@1"]);
  expect(of("flaky")).toEqual(["onProcessed@2", "onReceive@1", "onReceive@2", "onRetry@1"]);
  expect(of("bad")).toEqual(["onDeadLetter@2", "onReceive@1", "onReceive@2", "onRetry@1"]);
  expect(of("batch")).toEqual(["onProcessed@1", "onReceive@1"]);
  // Each handler's first hook is its first onReceive.
  for (const handler of ["ok", "flaky", "bad", "batch"]) {
    const first = records.find((r) => r.handler === handler && r.eventId === good.id);
    expect(first).toMatchObject({ hook: "onReceive", attempt: 1 });
  }
  expect(records.filter((r) => r.eventId === invalid.id)).toEqual([
    { hook: "onDeadLetter", handler: group, attempt: 0, eventId: invalid.id },
  ]);
}
