// A store adapter package as `createEventferry` loads it (used by tests through the `adapters` option).
import { createMemoryTransport, type Transport } from "@eventferry/core";
import { createMemoryStore, type Store } from "@eventferry/store";

/** What the adapter was asked to do. */
export const fakeStoreCalls: {
  urls: string[];
  queueFor: Store[];
  created: Store[];
  transports: Transport[];
} = {
  urls: [],
  queueFor: [],
  created: [],
  transports: [],
};

export function createStoreFromUrl(url: string): Store {
  fakeStoreCalls.urls.push(url);
  const store = createMemoryStore() as Store;
  fakeStoreCalls.created.push(store);
  return store;
}

export function createStoreTransport(store: Store): Transport {
  fakeStoreCalls.queueFor.push(store);
  const transport = createMemoryTransport();
  fakeStoreCalls.transports.push(transport);
  return transport;
}
