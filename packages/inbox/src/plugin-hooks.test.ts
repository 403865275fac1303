import { describe, it } from "vitest";
import { expectHookScenario, runHookScenario } from "./test-support/hook-scenario.js";
import { rig } from "./test-support/rig.js";

describe("plugin hooks on the claim path (memory store: no admission)", () => {
  it("fire onReceive / onProcessed / onRetry / onDeadLetter for one-event and batch handlers", async () => {
    const result = await runHookScenario((plugins) => {
      const r = rig({ plugins, group: "hooks" });
      return { inbox: r.inbox, send: r.send };
    });
    expectHookScenario(result, "hooks");
  });
});
