import type { EventDefinition, EventEnvelope } from "@eventferry/core";
import type { MemoryTx, StoreTx } from "@eventferry/store";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import { type AnyModelEvents, defineModelEvents, type ModelChange } from "./define-model-events.js";

const User = defineModelEvents(
  "user",
  z.object({ id: z.string(), email: z.string(), age: z.number().optional() }),
);
type UserRecord = { id: string; email: string; age?: number | undefined };
declare const tx: StoreTx<MemoryTx>;

describe("defineModelEvents types", () => {
  it("names and types the three definitions", () => {
    expectTypeOf(User.name).toEqualTypeOf<"user">();
    expectTypeOf(User.created.type).toEqualTypeOf<"user.created">();
    expectTypeOf(User.updated.type).toEqualTypeOf<"user.updated">();
    expectTypeOf(User.deleted.type).toEqualTypeOf<"user.deleted">();
    expectTypeOf(User.created).toMatchTypeOf<EventDefinition>();
    expectTypeOf(User).toMatchTypeOf<AnyModelEvents>();
    expectTypeOf(User.created.parse({})).toEqualTypeOf<UserRecord>();
    expectTypeOf(User.updated.parse({})).toEqualTypeOf<{
      before?: UserRecord | undefined;
      after: UserRecord;
    }>();
  });

  it("types the writes' records, results and hooks", () => {
    expectTypeOf(User.create(tx, { id: "u", email: "e" })).toEqualTypeOf<
      Promise<EventEnvelope<"user.created", UserRecord>>
    >();
    expectTypeOf(
      User.update(tx, { id: "u", email: "e" }, { previous: { id: "u", email: "d" } }),
    ).toEqualTypeOf<
      Promise<EventEnvelope<"user.updated", { before?: UserRecord | undefined; after: UserRecord }>>
    >();
    // @ts-expect-error: email is required
    void User.create(tx, { id: "u" });
    // @ts-expect-error: no such action
    User.before("upsert", () => {});
    User.before<MemoryTx>("create", (change) => {
      expectTypeOf(change).toEqualTypeOf<ModelChange<UserRecord, MemoryTx>>();
      expectTypeOf(change.tx.client).toEqualTypeOf<MemoryTx>();
      expectTypeOf(change.record.email).toEqualTypeOf<string>();
    });
    void User.create(
      tx,
      { id: "u", email: "e" },
      {
        write: (record, t) => {
          expectTypeOf(record).toEqualTypeOf<UserRecord>();
          expectTypeOf(t.client).toEqualTypeOf<MemoryTx>();
        },
      },
    );
  });
});
