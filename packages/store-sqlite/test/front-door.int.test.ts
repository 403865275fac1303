import { defineEvent } from "@eventferry/core";
import { createEventferry } from "eventferry";
import { afterAll, expect, it } from "vitest";
import { z } from "zod";
import type { SqliteDatabase } from "../src/index.js";
import { tempDir } from "./setup.js";

const tmp = tempDir();
afterAll(() => tmp.remove());
const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));

it('createEventferry({ store: "sqlite:…", transport: "store:" }) runs end to end on one file', async () => {
  const file = tmp.file("front/door.db");
  const ferry = await createEventferry<SqliteDatabase>({ store: `sqlite://${file}`, transport: "store:" });
  const totals: number[] = [];
  ferry.on(OrderCreated, async (event, ctx) => {
    ctx.tx.exec("CREATE TABLE IF NOT EXISTS seen (order_id TEXT PRIMARY KEY)");
    ctx.tx.prepare("INSERT INTO seen VALUES (?)").run(event.data.orderId);
    totals.push(event.data.total);
  });
  await ferry.start();
  await ferry.publish(OrderCreated, { orderId: "o-1", total: 42 });
  await ferry.whenIdle({ timeout: 5_000 });
  expect(totals).toEqual([42]);
  await ferry.stop({ timeout: 1_000 });
});
