// Test support (not exported): an inbox on the memory store and memory transport.
import {
  createMemoryTransport,
  type EncodedEvent,
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
  /** Publishes raw payloads (not encoded events): bad input for the decoder. */
  sendRaw(...payloads: EncodedEvent["payload"][]): Promise<void>;
}

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (open.length) await open.pop()?.();
});

/** Runs `cleanup` after the current test, with the rigs' own (last registered, first run). */
export function afterThisTest(cleanup: () => Promise<void>): void {
  open.push(cleanup);
}

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
    async sendRaw(...payloads) {
      await transport.publish(
        inbox.topic,
        payloads.map((payload, i) => ({ id: `raw-${i}-${Math.random()}`, type: "", payload })),
      );
    },
  };
}
