// A transport adapter package as `createEventferry` loads it (used by tests through the `adapters` option).
import { createMemoryTransport, type Transport } from "@eventferry/core";

export const fakeTransportCalls: { urls: string[]; created: Transport[] } = { urls: [], created: [] };

export function createTransportFromUrl(url: string): Transport {
  fakeTransportCalls.urls.push(url);
  const transport = createMemoryTransport();
  fakeTransportCalls.created.push(transport);
  return transport;
}
