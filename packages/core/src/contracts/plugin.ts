import type { EventEnvelope } from "../event.js";
import type { Logger, Middleware } from "./handler.js";
import type { HealthReport } from "./health.js";
import type { Publisher, Subscriber } from "./transport.js";

/** What a plugin's `setup` sees. */
export interface PluginContext {
  readonly logger: Logger;
  /** Registers a health check that the ferry's `health()` aggregates. */
  addHealthCheck(name: string, check: () => Promise<HealthReport>): void;
  /** The store and transport names, e.g. `sqlite`, `redis`. */
  readonly storeName: string;
  readonly transportName: string;
  /**
   * Inbox depth per status (`pending`, `scheduled`, `inFlight`, `completed`, `dead`), and
   * `oldestPendingAgeMs` when something is pending, for gauges.
   */
  inboxStats(): Promise<Readonly<Record<string, number>>>;
}

/** Hooks fire after the fact; a hook that throws is logged and never breaks processing. */
export interface PluginHooks {
  onPublish?(events: readonly EventEnvelope[]): void | Promise<void>;
  onReceive?(event: EventEnvelope, info: { handler: string; attempt: number }): void | Promise<void>;
  onProcessed?(
    event: EventEnvelope,
    info: { handler: string; attempt: number; durationMs: number },
  ): void | Promise<void>;
  onRetry?(
    event: EventEnvelope,
    error: unknown,
    nextAt: Date,
    info: { handler: string; attempt: number },
  ): void | Promise<void>;
  onDeadLetter?(
    event: EventEnvelope | undefined,
    error: unknown,
    info: { handler: string; attempt: number; reason: string },
  ): void | Promise<void>;
  onStart?(): void | Promise<void>;
  onStop?(): void | Promise<void>;
}

/**
 * A plugin: metrics, health, tracing, logging, your own.
 *
 * Order rule: plugins are set up in array order; the first plugin's middleware is outermost;
 * decorators apply in array order (the last plugin's decorator is outermost).
 */
export interface Plugin {
  readonly name: string;
  /** Once, before subscriptions start. */
  setup?(ctx: PluginContext): void | Promise<void>;
  readonly middleware?: readonly Middleware[];
  decoratePublisher?(publisher: Publisher): Publisher;
  decorateSubscriber?(subscriber: Subscriber): Subscriber;
  /** `store` is the store adapter; typed loosely here so core does not depend on the store package. */
  decorateStore?<S>(store: S): S;
  readonly hooks?: PluginHooks;
}

/**
 * Identity function that gives a plugin object its type.
 *
 * @example
 * export const logging = () => definePlugin({ name: "logging", hooks: { onDeadLetter: (e, err) => console.error(err) } });
 */
export function definePlugin<P extends Plugin>(plugin: P): P {
  return plugin;
}
