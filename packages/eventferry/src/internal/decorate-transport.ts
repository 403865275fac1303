import type { Plugin, Publisher, Subscriber, Transport } from "@eventferry/core";

/**
 * Applies the plugins' `decoratePublisher` / `decorateSubscriber` in array order (the last
 * plugin's decorator is outermost) and joins the two sides back into one {@link Transport}.
 * Returns `transport` itself when no plugin decorates it.
 */
export function decorateTransport(transport: Transport, plugins: readonly Plugin[]): Transport {
  let publisher: Publisher = transport;
  let subscriber: Subscriber = transport;
  for (const plugin of plugins) {
    if (plugin.decoratePublisher) publisher = plugin.decoratePublisher(publisher);
    if (plugin.decorateSubscriber) subscriber = plugin.decorateSubscriber(subscriber);
  }
  if (publisher === transport && subscriber === transport) return transport;
  return {
    name: transport.name,
    features: transport.features,
    health: () => transport.health(),
    publish: (topic, events, options) => publisher.publish(topic, events, options),
    subscribe: (topic, options) => subscriber.subscribe(topic, options),
    async close() {
      await Promise.all([publisher.close(), subscriber.close()]);
    },
  };
}

/** Applies the plugins' `decorateStore` in array order (the last plugin's decorator is outermost). */
export function decorateStore<S>(store: S, plugins: readonly Plugin[]): S {
  let decorated = store;
  for (const plugin of plugins) {
    if (plugin.decorateStore) decorated = plugin.decorateStore(decorated);
  }
  return decorated;
}
