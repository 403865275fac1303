// Test support (not exported): a keyed successor waiting on a predecessor the dispatcher retries.
import { createEnvelope, defineEvent } from "@eventferry/core";
import { expect } from "vitest";
import { z } from "zod";
import type { HookRig } from "./hook-scenario.js";

const Step = defineEvent("successor.step", z.object({ n: z.number() }));

/**
 * Sends two events of one key; the first fails its first try (so the dispatcher, not admission,
 * runs it again) and the second waits for it. The rig must poll rarely (say `pollInterval: 60_000`):
 * the second must run as soon as the first is done, not at the next poll.
 */
export async function expectSuccessorRunsPromptly(rig: HookRig): Promise<void> {
  const seen: number[] = [];
  let failFirst = true;
  rig.inbox.handle(Step, async (e) => {
    if (e.data.n === 1 && failFirst) {
      failFirst = false;
      throw new Error("first try fails");
    }
    seen.push(e.data.n);
  });
  await rig.inbox.start();
  const first = createEnvelope(Step, { n: 1 }, { key: "k" });
  const second = createEnvelope(Step, { n: 2 }, { key: "k" });
  await rig.send(first);
  await rig.send(second);
  const t0 = Date.now();
  await expect(rig.inbox.whenProcessed(second.id, { timeout: "10s" })).resolves.toMatchObject({ ok: true });
  expect(Date.now() - t0).toBeLessThan(3_000);
  expect(seen).toEqual([1, 2]);
}
