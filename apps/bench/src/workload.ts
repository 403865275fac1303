import { randomUUID } from "node:crypto";
import type { EventEnvelope } from "@eventferry/core";

/** The data of one benchmark event: an `order.created` with two line items. */
export interface OrderCreated {
  readonly orderId: string;
  readonly customerId: string;
  readonly total: number;
  readonly items: readonly { readonly sku: string; readonly qty: number; readonly price: number }[];
}

/**
 * Makes `n` distinct `order.created` envelopes (about 250 bytes of JSON for id, type,
 * occurredAt and data), generated before any timing starts.
 *
 * @example
 * const events = makeEvents(1_000);
 */
export function makeEvents(n: number): EventEnvelope<"order.created", OrderCreated>[] {
  const base = Date.now();
  const events: EventEnvelope<"order.created", OrderCreated>[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const qtyA = 1 + (i % 3);
    const qtyB = 1 + (i % 2);
    const priceA = 1_999 + (i % 500);
    const priceB = 499 + (i % 100);
    events[i] = {
      id: randomUUID(),
      type: "order.created",
      schemaVersion: 1,
      priority: 3,
      occurredAt: new Date(base + i).toISOString(),
      data: {
        orderId: `o${(100_000_000 + i).toString(36)}`,
        customerId: `c${i % 10_000}`,
        total: qtyA * priceA + qtyB * priceB,
        items: [
          { sku: `s${i % 997}`, qty: qtyA, price: priceA },
          { sku: `s${(i * 7) % 991}`, qty: qtyB, price: priceB },
        ],
      },
    };
  }
  return events;
}

/**
 * Splits `items` into consecutive slices of at most `size`.
 *
 * @example
 * chunks([1, 2, 3], 2); // [[1, 2], [3]]
 */
export function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
