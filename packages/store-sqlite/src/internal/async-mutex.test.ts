import { describe, expect, it } from "vitest";
import { AsyncMutex } from "./async-mutex.js";

describe("AsyncMutex", () => {
  it("runs holders one at a time in FIFO order, also when one throws", async () => {
    const mutex = new AsyncMutex();
    const log: string[] = [];
    const hold = (name: string, fail = false) =>
      mutex.run(async () => {
        log.push(`${name} in`);
        await new Promise((r) => setTimeout(r, 5));
        log.push(`${name} out`);
        if (fail) throw new Error(name);
        return name;
      });
    expect(mutex.busy).toBe(false);
    const results = Promise.allSettled([hold("a"), hold("b", true), hold("c")]);
    expect(mutex.busy).toBe(true);
    expect((await results).map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(log).toEqual(["a in", "a out", "b in", "b out", "c in", "c out"]);
    expect(mutex.busy).toBe(false);
  });
});
