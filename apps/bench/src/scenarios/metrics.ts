import {
  createMemoryTransport,
  type EventEnvelope,
  encodeEvent,
  type MemoryTransport,
  type Plugin,
  type PluginContext,
  silentLogger,
  type Transport,
} from "@eventferry/core";
import { createInbox, type Inbox } from "@eventferry/inbox";
import { type MetricsPlugin, metricsPlugin } from "@eventferry/metrics";
import { createMemoryStore, type MemoryStore } from "@eventferry/store";
import { chunks, makeEvents } from "../workload.js";
import { BATCH, type Run, type System, WARMUP } from "./scenario.js";

const TOPIC = "events";
const GROUP = "bench";

/** The plugin's transport decorators applied the way createEventferry applies them. */
function decorate(transport: Transport, plugin: Plugin): Transport {
  const publisher = plugin.decoratePublisher ? plugin.decoratePublisher(transport) : transport;
  const subscriber = plugin.decorateSubscriber ? plugin.decorateSubscriber(transport) : transport;
  return {
    name: transport.name,
    features: transport.features,
    health: () => transport.health(),
    publish: (topic, events, options) => publisher.publish(topic, events, options),
    subscribe: (topic, options) => subscriber.subscribe(topic, options),
    close: () => transport.close(),
  };
}

/**
 * `metrics.overhead`: the inbox end to end on the memory store and memory transport — publish N
 * events to the transport in batches of 1,000 while `createInbox` (default concurrency and batch
 * size, a no-op handler) records and handles them; timed until every event is handled and the
 * inbox is idle. "eventferry" runs it with `metricsPlugin()` (its middleware, hooks and
 * transport decorators, set up as a ferry would); "raw" here means the same inbox WITHOUT the
 * plugin. The ratio is the plugin's throughput cost.
 */
export function metricsOverhead(system: System, n: number): Run {
  if (system !== "eventferry" && system !== "raw") {
    throw new Error(
      `metrics.overhead compares the inbox with and without the plugin; it has no ${system} side`,
    );
  }
  let store: MemoryStore | undefined;
  /** The store the inbox uses: the plugin's `decorateStore` result, as in a ferry. */
  let inboxStore: MemoryStore | undefined;
  let transport: MemoryTransport | undefined;
  let inbox: Inbox | undefined;
  let plugin: MetricsPlugin | undefined;
  let events: EventEnvelope[] = [];
  let handled = 0;
  let target = 0;
  let reached: () => void = () => {};

  const publishAndDrain = async (batch: readonly EventEnvelope[], via: Transport): Promise<void> => {
    target = handled + batch.length;
    const all = new Promise<void>((resolve) => {
      reached = resolve;
    });
    for (const chunk of chunks(batch, BATCH))
      await via.publish(
        TOPIC,
        chunk.map((e) => encodeEvent(e)),
      );
    await all;
    await inbox?.whenIdle({ timeout: "60s" });
  };
  let via: Transport | undefined;

  return {
    async setup() {
      store = createMemoryStore({ retainCompleted: Number.POSITIVE_INFINITY });
      transport = createMemoryTransport();
      via = transport;
      inboxStore = store;
      const plugins: Plugin[] = [];
      if (system === "eventferry") {
        plugin = metricsPlugin();
        plugins.push(plugin);
        via = decorate(transport, plugin);
        inboxStore = plugin.decorateStore ? plugin.decorateStore(store) : store;
        const s = store;
        const context: PluginContext = {
          logger: silentLogger,
          storeName: store.name,
          transportName: transport.name,
          addHealthCheck() {},
          async inboxStats() {
            const stats = await s.inbox.stats({ consumers: [`${GROUP}/order-created`] });
            const numbers: Record<string, number> = {};
            for (const [k, v] of Object.entries(stats)) if (typeof v === "number") numbers[k] = v;
            return numbers;
          },
        };
        await plugin.setup?.(context);
      }
      inbox = createInbox({
        store: inboxStore,
        transport: via,
        group: GROUP,
        topic: TOPIC,
        plugins,
        logger: silentLogger,
      }).handle(
        "order.created",
        async () => {
          if (++handled >= target) reached();
        },
        { name: "order-created" },
      );
      await store.migrate();
      await inbox.start();
      for (const p of plugins) await p.hooks?.onStart?.();
      await publishAndDrain(makeEvents(WARMUP), via);
      events = makeEvents(n);
    },
    async run() {
      await publishAndDrain(events, via as Transport);
    },
    async teardown() {
      for (const p of plugin ? [plugin] : []) await p.hooks?.onStop?.();
      await inbox?.stop();
      const stats = await store?.inbox.stats();
      if (stats?.completed !== WARMUP + n) {
        throw new Error(`expected ${WARMUP + n} completed entries, got ${JSON.stringify(stats)}`);
      }
      if (plugin) {
        const m = plugin.getMetrics();
        if (m.processed !== WARMUP + n || m.published !== WARMUP + n) {
          throw new Error(
            `the plugin counted ${m.processed} processed / ${m.published} published, expected ${WARMUP + n}`,
          );
        }
        process.stderr.write(`${plugin.getReport()}`);
      }
      await transport?.close();
      await store?.close();
    },
  };
}
