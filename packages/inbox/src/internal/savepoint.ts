import type { HandlerContext } from "@eventferry/core";
import type { StoreTx } from "@eventferry/store";

/**
 * Where a handler context carries its store's savepoint (hidden: a symbol key, which object
 * spread keeps, so middleware that copies `ctx` keeps it too).
 */
const SAVEPOINT: unique symbol = Symbol.for("eventferry.inbox.savepoint");

/** Runs `fn` in a savepoint: when it throws, only its writes are undone. `fn` gets the nested client. */
export type SavepointFn = <T>(fn: (client: unknown) => Promise<T>) => Promise<T>;

/** Attaches `tx`'s savepoint (when its store offers one: `tx.admission.savepoint`) to `ctx`. */
export function withSavepoint<C extends HandlerContext>(ctx: C, tx: StoreTx): C {
  const admission = tx.admission;
  if (!admission) return ctx;
  const savepoint: SavepointFn = (fn) => admission.savepoint((nested) => fn(nested.client));
  return Object.assign(ctx, { [SAVEPOINT]: savepoint });
}

/** The savepoint of `ctx`'s transaction, or `undefined` when its store has none (memory store). */
export function savepointOf(ctx: HandlerContext): SavepointFn | undefined {
  return (ctx as HandlerContext & { [SAVEPOINT]?: SavepointFn })[SAVEPOINT];
}
