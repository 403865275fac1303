// @eventferry/store — the Store contract and the in-memory store.
export type * from "./store.js";
// (helper adds: memory-store)
