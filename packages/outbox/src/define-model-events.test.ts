import {
  ConfigError,
  createMemoryTransport,
  type EventEnvelope,
  silentLogger,
  ValidationError,
} from "@eventferry/core";
import { createMemoryStore, type MemoryStore, type MemoryTx } from "@eventferry/store";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createOutboxRelay } from "./create-outbox-relay.js";
import { defineModelEvents, isModelEvents, modelEventOf } from "./define-model-events.js";

const userSchema = z.object({ id: z.string(), email: z.string().email(), name: z.string().optional() });

const stores: MemoryStore[] = [];
function newStore(): MemoryStore {
  const store = createMemoryStore();
  stores.push(store);
  return store;
}
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
});

/** Claims everything in the outbox (the relay's view) without publishing. */
async function outboxEvents(store: MemoryStore): Promise<EventEnvelope[]> {
  const entries = await store.outbox.claim({ limit: 1_000, leaseMs: 60_000 });
  return entries.map((e) => e.event);
}

describe("defineModelEvents", () => {
  it("defines typed created/updated/deleted events named after the model", () => {
    const User = defineModelEvents("user", userSchema);
    expect(isModelEvents(User)).toBe(true);
    expect(isModelEvents({})).toBe(false);
    expect(User.name).toBe("user");
    expect(User.topic).toBe("events");
    expect([User.created.type, User.updated.type, User.deleted.type]).toEqual([
      "user.created",
      "user.updated",
      "user.deleted",
    ]);
    expect(User.definitions).toEqual([User.created, User.updated, User.deleted]);
    expect(User.updated.parse({ after: { id: "u", email: "a@b.co" } })).toEqual({
      after: { id: "u", email: "a@b.co" },
    });
    expect(modelEventOf).toEqual({ create: "created", update: "updated", delete: "deleted" });
  });

  it("rejects a bad name or options with one ConfigError", () => {
    expect(() => defineModelEvents("bad name!", userSchema)).toThrow(ConfigError);
    expect(() => defineModelEvents("", userSchema)).toThrow(/name must be a non-empty string/);
    let error: unknown;
    try {
      defineModelEvents("user", {} as z.ZodType, { topic: "", key: "id" as never });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toHaveLength(3);
    const User = defineModelEvents("user", userSchema);
    expect(() => User.before("upsert" as never, () => {})).toThrow(/"create", "update" or "delete"/);
    expect(() => User.after("create", "nope" as never)).toThrow(ConfigError);
  });

  it("create: before hooks, the write, the outbox add and after hooks run in order inside the transaction", async () => {
    const store = newStore();
    const User = defineModelEvents("user", userSchema);
    const steps: string[] = [];
    User.before<MemoryTx>("create", ({ record, tx, action, model }) => {
      steps.push(`before:${model}.${action}:${record.id}`);
      tx.client.set(`audit:${record.id}`, "before");
    });
    User.after("create", async ({ record }) => {
      steps.push(`after:${record.id}`);
      expect(await store.outbox.pending()).toBe(0); // not committed yet
    });
    const envelope = await store.transaction((tx) =>
      User.create(
        tx,
        { id: "u-1", email: "ada@example.com" },
        {
          write: (user, t) => {
            steps.push(`write:${user.email}`);
            t.client.set(`user:${user.id}`, user);
          },
          correlationId: "req-7",
        },
      ),
    );
    expect(steps).toEqual(["before:user.create:u-1", "write:ada@example.com", "after:u-1"]);
    expect(envelope.type).toBe("user.created");
    expect(envelope.data).toEqual({ id: "u-1", email: "ada@example.com" });
    expect(envelope.key).toBe("u-1"); // the record id by default
    expect(envelope.correlationId).toBe("req-7");
    expect(store.kv.get("user:u-1")).toEqual({ id: "u-1", email: "ada@example.com" });
    expect(store.kv.get("audit:u-1")).toBe("before");
    const queued = await outboxEvents(store);
    expect(queued.map((e) => e.id)).toEqual([envelope.id]);
    const logged: string[] = [];
    for await (const e of store.read()) logged.push(e.id);
    expect(logged).toEqual([envelope.id]);
  });

  it("a before hook that throws vetoes: the transaction rolls back and nothing is published", async () => {
    const store = newStore();
    const User = defineModelEvents("user", userSchema);
    const afterRan: string[] = [];
    let writeRan = false;
    User.before("create", ({ record }) => {
      if (record.email.endsWith("@blocked.example")) throw new Error("blocked domain");
    });
    User.after("create", ({ record }) => {
      afterRan.push(record.id);
    });
    await expect(
      store.transaction(async (tx) => {
        tx.client.set("user:u-2", "business write before the model call");
        await User.create(
          tx,
          { id: "u-2", email: "eve@blocked.example" },
          {
            write: () => {
              writeRan = true;
            },
          },
        );
      }),
    ).rejects.toThrow("blocked domain");
    expect(writeRan).toBe(false);
    expect(afterRan).toEqual([]);
    expect(store.kv.has("user:u-2")).toBe(false);
    expect(await store.outbox.pending()).toBe(0);
    const logged: string[] = [];
    for await (const e of store.read()) logged.push(e.id);
    expect(logged).toEqual([]);
  });

  it("an after hook that throws rolls the transaction back too", async () => {
    const store = newStore();
    const User = defineModelEvents("user", userSchema);
    User.after("delete", () => {
      throw new Error("audit log unavailable");
    });
    await expect(
      store.transaction((tx) => User.delete(tx, { id: "u-3", email: "a@example.com" })),
    ).rejects.toThrow("audit log unavailable");
    expect(await store.outbox.pending()).toBe(0);
  });

  it("update carries before and after; delete carries the record; hooks see previous", async () => {
    const store = newStore();
    const User = defineModelEvents("user", userSchema, { key: (u) => `tenant-1/${u.id}` });
    const seen: Array<[string, unknown, unknown]> = [];
    User.before("update", ({ record, previous }) => {
      seen.push(["update", record.email, previous?.email]);
    });
    User.before("delete", ({ record, previous }) => {
      seen.push(["delete", record.id, previous]);
    });
    await store.transaction(async (tx) => {
      const a = { id: "u-4", email: "old@example.com" };
      const b = { id: "u-4", email: "new@example.com" };
      await User.create(tx, a);
      await User.update(tx, b, { previous: a });
      await User.update(tx, { ...b, name: "Bo" });
      await User.delete(tx, b, { key: "explicit" });
    });
    expect(seen).toEqual([
      ["update", "new@example.com", "old@example.com"],
      ["update", "new@example.com", undefined],
      ["delete", "u-4", undefined],
    ]);
    expect(await store.outbox.pending()).toBe(4);
    const queued: EventEnvelope[] = []; // the log, in order (the outbox holds a key's rows back one by one)
    for await (const e of store.read()) queued.push(e);
    expect(queued.map((e) => [e.type, e.key])).toEqual([
      ["user.created", "tenant-1/u-4"],
      ["user.updated", "tenant-1/u-4"],
      ["user.updated", "tenant-1/u-4"],
      ["user.deleted", "explicit"],
    ]);
    expect(queued[1]?.data).toEqual({
      before: { id: "u-4", email: "old@example.com" },
      after: { id: "u-4", email: "new@example.com" },
    });
    expect(queued[2]?.data).toEqual({ after: { id: "u-4", email: "new@example.com", name: "Bo" } });
    expect(queued[3]?.data).toEqual({ id: "u-4", email: "new@example.com" });
  });

  it("rejects an invalid record with a ValidationError before any hook runs", async () => {
    const store = newStore();
    const User = defineModelEvents("user", userSchema);
    let hookRan = false;
    User.before("create", () => {
      hookRan = true;
    });
    const error = await store
      .transaction((tx) => User.create(tx, { id: "u-5", email: "not-an-email" }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).message).toMatch(
      /^\[eventferry:outbox\] user\.create: invalid record: email/,
    );
    expect(hookRan).toBe(false);
    const previousError = await store
      .transaction((tx) =>
        User.update(tx, { id: "u-5", email: "a@example.com" }, { previous: { id: 5 } as never }),
      )
      .catch((e: unknown) => e);
    expect(previousError).toBeInstanceOf(ValidationError);
    await expect(User.create({} as never, { id: "u", email: "a@example.com" })).rejects.toThrow(
      /takes a store transaction/,
    );
    expect(await store.outbox.pending()).toBe(0);
  });

  it("unregistering a hook stops it; hooks of one model do not run for another", async () => {
    const store = newStore();
    const User = defineModelEvents("user", userSchema);
    const Team = defineModelEvents("team", z.object({ id: z.number() }), { topic: "teams" });
    const calls: string[] = [];
    const off = User.before("create", ({ record }) => {
      calls.push(record.id);
    });
    await store.transaction(async (tx) => {
      await User.create(tx, { id: "a", email: "a@example.com" });
      off();
      await User.create(tx, { id: "b", email: "b@example.com" });
      const team = await Team.create(tx, { id: 7 });
      expect(team.key).toBe("7");
    });
    expect(calls).toEqual(["a"]);
    const entries = await store.outbox.claim({ limit: 10, leaseMs: 1_000 });
    expect(entries.map((e) => [e.topic, e.event.type])).toEqual([
      ["events", "user.created"],
      ["events", "user.created"],
      ["teams", "team.created"],
    ]);
  });

  it("the relay publishes model events once the transaction commits", async () => {
    const store = newStore();
    const transport = createMemoryTransport();
    const User = defineModelEvents("user", userSchema);
    const sub = await transport.subscribe("events", { group: "g" });
    const relay = createOutboxRelay({ store, transport, logger: silentLogger });
    const created = await store.transaction((tx) => User.create(tx, { id: "u-9", email: "z@example.com" }));
    await relay.flush();
    for await (const delivery of sub) {
      expect(delivery.event.id).toBe(created.id);
      expect(delivery.event.type).toBe("user.created");
      await delivery.ack();
      break;
    }
    await sub.close();
    await transport.close();
  });
});
