/** One request of the load: what to send and what kind of traffic it is. */
export interface LoadRequest {
  readonly kind: "order" | "payment" | "user" | "flaky-order";
  readonly method: "POST";
  readonly path: string;
  readonly body: unknown;
}

const CUSTOMERS = 50;

/**
 * The `i`-th request of the load (deterministic, so two runs send the same mix): of every 100
 * requests, 90 orders from 50 customers, 5 failed payments (alternately under and over $1,000;
 * the larger ones raise alerts), 4 new users, and 1 order of `flaky-forever` (its webhook always
 * fails: a dead letter after the retries). `run` makes ids unique per run.
 *
 * @example
 * requestAt(0, "r1") // { kind: "order", method: "POST", path: "/orders", body: { customerId: "load-c-0", … } }
 */
export function requestAt(i: number, run: string): LoadRequest {
  const slot = i % 100;
  const customerId = `load-c-${i % CUSTOMERS}`;
  if (slot === 99) {
    return {
      kind: "flaky-order",
      method: "POST",
      path: "/orders",
      body: {
        customerId: "flaky-forever",
        email: "flaky@example.com",
        items: [{ sku: "pen", quantity: 1, unitPrice: 3 }],
      },
    };
  }
  if (slot % 20 === 5) {
    const large = (i / 20) % 2 >= 1;
    return {
      kind: "payment",
      method: "POST",
      path: "/payments/failed",
      body: {
        orderId: `load-o-${run}-${i}`,
        customerId,
        amount: large ? 1_500 + (i % 7) * 250 : 40 + (i % 9) * 10,
        reason: large ? "card declined" : "insufficient funds",
      },
    };
  }
  if (slot % 25 === 12) {
    return {
      kind: "user",
      method: "POST",
      path: "/users",
      body: { userId: `load-u-${run}-${i}`, email: `user${i}@example.com`, name: `Load user ${i}` },
    };
  }
  return {
    kind: "order",
    method: "POST",
    path: "/orders",
    body: {
      customerId,
      email: `${customerId}@example.com`,
      ...(i % 3 === 0 ? { phone: "+15550100" } : {}),
      items: [
        { sku: "book", quantity: 1 + (i % 3), unitPrice: 12.5 },
        { sku: "pen", quantity: 1, unitPrice: 3 },
      ],
    },
  };
}
