// @eventferry/core/testing — test kits: the transport conformance suite and a fake clock.
// vitest is an optional peer dependency of core, needed only by this entry.
export { createFakeClock, type FakeClock } from "./fake-clock.js";
export {
  describeTransportConformance,
  type TransportConformanceCase,
  type TransportConformanceOptions,
  transportConformanceCases,
} from "./transport-conformance.js";
