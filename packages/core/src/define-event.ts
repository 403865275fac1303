import { z } from "zod";
import { ConfigError, ValidationError } from "./errors.js";

/** Converts data of schema version `from` to version `from + 1`. */
export type Upcaster = (data: unknown) => unknown;

export interface DefineEventOptions {
  /** Current version of the schema. @default 1 */
  version?: number;
  /**
   * Upcasters keyed by the version they convert FROM: `{ 1: v1 => v2, 2: v2 => v3 }`.
   * Every version below `version` needs one.
   */
  upcast?: Readonly<Record<number, Upcaster>>;
  /** A one-line description, kept with the JSON Schema. */
  description?: string;
}

/** A typed event: its name, its zod schema, its schema version and upcasters. */
export interface EventDefinition<TType extends string = string, TSchema extends z.ZodType = z.ZodType> {
  readonly kind: "eventferry.event-definition";
  readonly type: TType;
  readonly schema: TSchema;
  readonly version: number;
  readonly description: string | undefined;
  /**
   * Validates `data` (of schema version `fromVersion`, default the current one), upcasting older
   * versions first. Throws a {@link ValidationError} listing the issues.
   */
  parse(data: unknown, fromVersion?: number): z.output<TSchema>;
  /** Like {@link parse} without throwing. */
  safeParse(
    data: unknown,
    fromVersion?: number,
  ): { success: true; data: z.output<TSchema> } | { success: false; error: ValidationError };
  /** The JSON Schema (draft 2020-12) of the current version, for the store's schema table. */
  jsonSchema(): Record<string, unknown>;
}

/** The payload type (after parsing) of a definition. */
export type EventData<D> = D extends EventDefinition<string, infer S> ? z.output<S> : never;
/** The payload type a publisher passes (before defaults/transforms) of a definition. */
export type EventInput<D> = D extends EventDefinition<string, infer S> ? z.input<S> : never;
/** The type name of a definition. */
export type EventType<D> = D extends EventDefinition<infer T, z.ZodType> ? T : never;

const TYPE_RE = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** True when `name` is a valid event type: dot-separated segments of `[A-Za-z0-9_-]`. */
export function isValidEventType(name: string): boolean {
  return name.length > 0 && name.length <= 255 && TYPE_RE.test(name);
}

/**
 * Defines a typed event.
 *
 * @example
 * const OrderCreated = defineEvent("order.created", z.object({ orderId: z.string(), total: z.number() }));
 * // version 2 renamed `amount` to `total`:
 * const Paid = defineEvent("payment.paid", z.object({ total: z.number() }), {
 *   version: 2,
 *   upcast: { 1: (v1: any) => ({ total: v1.amount }) },
 * });
 */
export function defineEvent<const TType extends string, TSchema extends z.ZodType>(
  type: TType,
  schema: TSchema,
  options: DefineEventOptions = {},
): EventDefinition<TType, TSchema> {
  const version = options.version ?? 1;
  const upcast = options.upcast ?? {};
  const problems: string[] = [];
  if (!isValidEventType(type))
    problems.push(`type "${type}" must be dot-separated segments of [A-Za-z0-9_-]`);
  if (!Number.isInteger(version) || version < 1)
    problems.push(`version must be an integer >= 1, got ${version}`);
  for (let v = 1; v < version; v++) {
    if (typeof upcast[v] !== "function") problems.push(`missing upcaster from version ${v} to ${v + 1}`);
  }
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:core] invalid event definition "${type}": ${problems.join("; ")}`, {
      problems,
    });
  }

  let cachedJsonSchema: Record<string, unknown> | undefined;

  const safeParse: EventDefinition<TType, TSchema>["safeParse"] = (data, fromVersion = version) => {
    if (!Number.isInteger(fromVersion) || fromVersion < 1 || fromVersion > version) {
      return {
        success: false,
        error: new ValidationError(
          `[eventferry:core] "${type}" has no schema version ${fromVersion} (current is ${version})`,
          { issues: [`schemaVersion: ${fromVersion}`] },
        ),
      };
    }
    let current = data;
    try {
      for (let v = fromVersion; v < version; v++) current = (upcast[v] as Upcaster)(current);
    } catch (cause) {
      return {
        success: false,
        error: new ValidationError(
          `[eventferry:core] upcasting "${type}" from version ${fromVersion} failed`,
          {
            cause,
          },
        ),
      };
    }
    let result: z.ZodSafeParseResult<z.output<TSchema>>;
    try {
      result = schema.safeParse(current) as z.ZodSafeParseResult<z.output<TSchema>>;
    } catch (cause) {
      // e.g. an async refinement ("Encountered Promise during synchronous parse"): safeParse never throws.
      return {
        success: false,
        error: new ValidationError(
          `[eventferry:core] "${type}" schema could not parse the data synchronously`,
          {
            cause,
          },
        ),
      };
    }
    if (result.success) return { success: true, data: result.data };
    const issues = result.error.issues.map(
      (i) => `${i.path.length ? i.path.map(String).join(".") : "(root)"}: ${i.message}`,
    );
    return {
      success: false,
      error: new ValidationError(`[eventferry:core] "${type}" data is invalid: ${issues.join("; ")}`, {
        issues,
        cause: result.error,
      }),
    };
  };

  return Object.freeze({
    kind: "eventferry.event-definition" as const,
    type,
    schema,
    version,
    description: options.description,
    safeParse,
    parse(data: unknown, fromVersion?: number) {
      const r = safeParse(data, fromVersion);
      if (!r.success) throw r.error;
      return r.data;
    },
    jsonSchema() {
      if (!cachedJsonSchema) {
        const s = z.toJSONSchema(schema, { unrepresentable: "any", io: "input" }) as Record<string, unknown>;
        cachedJsonSchema = {
          ...s,
          title: type,
          ...(options.description ? { description: options.description } : {}),
          "x-eventferry-version": version,
        };
      }
      return cachedJsonSchema;
    },
  });
}

/** True when `value` is an {@link EventDefinition}. */
export function isEventDefinition(value: unknown): value is EventDefinition {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { kind?: unknown }).kind === "eventferry.event-definition"
  );
}
