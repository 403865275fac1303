import { EventEmitter } from "node:events";
import { silentLogger } from "eventferry";
import { describe, expect, it, vi } from "vitest";
import { anOrder, startTestApp } from "../test/harness.js";
import { handleSignals } from "./shutdown.js";

describe("graceful shutdown", () => {
  it("on SIGTERM closes the server, drains and stops the ferry, then exits 0", async () => {
    const t = await startTestApp();
    const signals = new EventEmitter();
    const exited = new Promise<number>((resolve) => {
      handleSignals(signals, t.app.shutdown, resolve, silentLogger);
    });
    const created = await t.call("POST", "/orders", { json: anOrder("c-9") });
    expect(created.status).toBe(201);

    signals.emit("SIGTERM");
    expect(await exited).toBe(0);
    expect(t.app.server.listening).toBe(false);
    expect(t.app.ferry.running).toBe(false);
    await expect(fetch(`${t.url}/health`)).rejects.toThrow();
  });

  it("exits 1 at once on a second signal, and 1 when shutdown fails", async () => {
    const signals = new EventEmitter();
    const exit = vi.fn();
    let finish: () => void = () => {};
    handleSignals(signals, () => new Promise<void>((r) => (finish = r)), exit, silentLogger);
    signals.emit("SIGINT");
    expect(exit).not.toHaveBeenCalled();
    signals.emit("SIGINT");
    expect(exit).toHaveBeenCalledWith(1);
    finish();

    const failing = new EventEmitter();
    const failed = new Promise<number>((resolve) => {
      handleSignals(failing, () => Promise.reject(new Error("boom")), resolve, silentLogger);
    });
    failing.emit("SIGTERM");
    expect(await failed).toBe(1);
  });
});
