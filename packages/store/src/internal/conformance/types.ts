import type { ExpectStatic } from "vitest";
import type { Store } from "../../store.js";
import type { StoreConformanceOptions } from "../../testing/store-conformance.js";

/** What one conformance case gets: a fresh store, the test's `expect`, the per-test id. */
export interface CaseContext {
  readonly store: Store;
  readonly expect: ExpectStatic;
  /** Unique per test (the same id `create` got). */
  readonly id: string;
  readonly txWrite: StoreConformanceOptions["txWrite"];
}

/** One conformance case: a stable id (`inbox.fencing`), a title, and its body. */
export interface ConformanceCase {
  readonly id: string;
  readonly title: string;
  run(t: CaseContext): Promise<void>;
}
