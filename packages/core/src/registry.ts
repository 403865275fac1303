import { type EventDefinition, isEventDefinition } from "./define-event.js";
import { ConfigError, ValidationError } from "./errors.js";
import type { EventEnvelope, UntypedEnvelope } from "./event.js";

/**
 * The event types a process knows: their schemas, versions and upcasters. The inbox validates
 * every decoded envelope through it; the store keeps its JSON Schemas.
 */
export interface EventRegistry {
  /**
   * Adds definitions and returns the registry. Registering the same definition object again is a
   * no-op; a different definition for a type already registered MUST throw a {@link ConfigError}.
   */
  register(...definitions: EventDefinition[]): EventRegistry;
  /** The definition of `type`, if registered. */
  get(type: string): EventDefinition | undefined;
  has(type: string): boolean;
  /** Every definition, in registration order. */
  list(): EventDefinition[];
  /**
   * Validates an envelope's data with its definition, upcasting older schema versions to the
   * current one; the returned envelope carries the parsed data and the current `schemaVersion`.
   * Throws a {@link ValidationError}: code `UNKNOWN_EVENT_TYPE` for an unregistered type,
   * `VALIDATION_FAILED` for a schemaVersion newer than the definition's, a failing upcaster or
   * data the schema rejects.
   */
  validate(envelope: UntypedEnvelope): EventEnvelope;
  /** JSON Schema of every registered definition's current version — for `store.schemas.put`. */
  jsonSchemas(): { type: string; version: number; schema: Record<string, unknown> }[];
}

/**
 * Creates an {@link EventRegistry}, optionally with definitions.
 *
 * @example
 * const registry = createRegistry([OrderCreated, PaymentPaid]);
 * const event = registry.validate(decodeEvent(delivery.event.payload));
 */
export function createRegistry(definitions: readonly EventDefinition[] = []): EventRegistry {
  const byType = new Map<string, EventDefinition>();

  const registry: EventRegistry = {
    register(...defs) {
      for (const def of defs) {
        if (!isEventDefinition(def)) {
          const problem = "register() takes event definitions made by defineEvent()";
          throw new ConfigError(`[eventferry:core] ${problem}`, { problems: [problem] });
        }
        const existing = byType.get(def.type);
        if (existing === undefined) byType.set(def.type, def);
        else if (existing !== def) {
          const problem = `event type "${def.type}" is already registered with a different definition`;
          throw new ConfigError(`[eventferry:core] ${problem}`, { problems: [problem] });
        }
      }
      return registry;
    },
    get: (type) => byType.get(type),
    has: (type) => byType.has(type),
    list: () => [...byType.values()],
    validate(envelope) {
      const def = byType.get(envelope.type);
      if (def === undefined) {
        throw new ValidationError(`[eventferry:core] unknown event type "${envelope.type}"`, {
          code: "UNKNOWN_EVENT_TYPE",
          issues: [`type: "${envelope.type}" is not registered`],
          details: { id: envelope.id, type: envelope.type },
        });
      }
      const version = envelope.schemaVersion ?? 1;
      if (version > def.version) {
        throw new ValidationError(
          `[eventferry:core] event "${envelope.id}" of type "${envelope.type}" has schema version ${version}, newer than the known version ${def.version} (deploy the newer definition)`,
          {
            issues: [`schemaVersion: ${version} > ${def.version}`],
            details: {
              id: envelope.id,
              type: envelope.type,
              schemaVersion: version,
              knownVersion: def.version,
            },
          },
        );
      }
      const result = def.safeParse(envelope.data, version);
      if (!result.success) throw result.error;
      return { ...envelope, data: result.data, schemaVersion: def.version };
    },
    jsonSchemas: () =>
      [...byType.values()].map((d) => ({ type: d.type, version: d.version, schema: d.jsonSchema() })),
  };

  registry.register(...definitions);
  return registry;
}
