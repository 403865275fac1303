// @eventferry/store/testing — the store conformance suite (vitest is an optional peer).
export {
  describeStoreConformance,
  type StoreConformanceContext,
  type StoreConformanceOptions,
  storeConformanceCases,
} from "./store-conformance.js";
