import { type EventEnvelope, encodeEvent } from "@eventferry/core";
import type { StoreTx } from "@eventferry/store";

/**
 * Writes events through a store transaction: appends them to the log and adds them to the outbox
 * for `topic`, to be carried to the transport by the outbox relay after the transaction commits.
 * The events exist if and only if the transaction commits. Each event is encoded here once, so
 * one the relay could never send (over the codec's size limit, unserialisable data) throws a
 * `ValidationError` inside the transaction instead of blocking the outbox later.
 *
 * @example
 * await store.transaction(async (tx) => {
 *   await tx.client.query("insert into orders …");
 *   await publishInTransaction(tx, "events", [createEnvelope(OrderCreated, data)]);
 * });
 */
export async function publishInTransaction(
  tx: StoreTx,
  topic: string,
  events: readonly EventEnvelope[],
): Promise<void> {
  if (events.length === 0) return;
  for (const event of events) encodeEvent(event);
  const { inserted } = await tx.append(events);
  if (inserted.length === events.length) {
    await tx.outbox.add({ topic, events });
    return;
  }
  // Re-published ids are no-ops: only new events go out.
  const fresh = new Set(inserted);
  const toSend = events.filter((e) => fresh.has(e.id));
  if (toSend.length > 0) await tx.outbox.add({ topic, events: toSend });
}
