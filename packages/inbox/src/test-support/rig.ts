// Test support (not exported): an inbox on the memory store and memory transport.
import {
  createMemoryTransport,
  type EventEnvelope,
  encodeEvent,
  silentLogger,
  type Transport,
} from "@eventferry/core";
import { createMemoryStore, type MemoryStore, type MemoryTx } from "@eventferry/store";
import { afterEach } from "vitest";
import { createInbox, type Inbox, type InboxOptions } from "../create-inbox.js";

export interface Rig {
  store: MemoryStore;
  transport: Transport;
  inbox: Inbox<MemoryTx>;
  send(...events: EventEnvelope[]): Promise<void>;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (open.length) await open.pop()?.();
});

export function rig(options: Partial<InboxOptions<MemoryTx>> = {}): Rig {
  const store = createMemoryStore();
  const transport = createMemoryTransport();
  const inbox = createInbox<MemoryTx>({
    store,
    transport,
    logger: silentLogger,
    pollInterval: 50,
    retry: { attempts: 3, backoff: "fixed", delay: 5 },
    ...options,
  });
  open.push(async () => {
    await inbox.stop({ timeout: 1_000 });
    await transport.close();
    await store.close();
  });
  return {
    store,
    transport,
    inbox,
    async send(...events) {
      await transport.publish(
        inbox.topic,
        events.map((e) => encodeEvent(e)),
      );
    },
  };
}
