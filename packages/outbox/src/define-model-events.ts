import {
  ConfigError,
  createEnvelope,
  defineEvent,
  type EventDefinition,
  type EventEnvelope,
  type PublishEventOptions,
  ValidationError,
} from "@eventferry/core";
import type { StoreTx } from "@eventferry/store";
import { z } from "zod";
import { publishInTransaction } from "./publish-in-transaction.js";

/** A write on a model: what its `before`/`after` hooks are registered for. */
export type ModelAction = "create" | "update" | "delete";

/** The event a {@link ModelAction} emits: `create` → `created`, and so on. */
export type ModelEventName = "created" | "updated" | "deleted";

/** The schema of a model's `updated` event: the record after the update, and before it when known. */
export type ModelUpdatedSchema<TSchema extends z.ZodType> = z.ZodObject<{
  before: z.ZodOptional<TSchema>;
  after: TSchema;
}>;

/** What a hook sees: the model, the action, the (validated) record and the transaction. */
export interface ModelChange<TRecord, TClient = unknown> {
  /** The model's name (`"user"`). */
  readonly model: string;
  readonly action: ModelAction;
  /** The record created, the record after an update, or the record deleted (validated). */
  readonly record: TRecord;
  /** For `update`: the record before it, when the caller passed `previous`. */
  readonly previous: TRecord | undefined;
  /** The transaction the write runs in: a hook's own writes through `tx.client` share its fate. */
  readonly tx: StoreTx<TClient>;
}

/**
 * A lifecycle hook. A `before` hook vetoes the write by throwing: the error rejects the
 * `create`/`update`/`delete` call, so the caller's transaction rolls back and nothing is published.
 */
export type ModelHook<TRecord, TClient = unknown> = (
  change: ModelChange<TRecord, TClient>,
) => void | Promise<void>;

/** Options of one `create`/`update`/`delete` call: the envelope's options, plus the write itself. */
export interface ModelWriteOptions<TRecord, TClient = unknown> extends Omit<PublishEventOptions, "signal"> {
  /**
   * Your business write, run after the `before` hooks and before the event is added to the outbox,
   * in the same transaction. Optional: you may also write before calling.
   */
  write?: (record: TRecord, tx: StoreTx<TClient>) => unknown;
  /** The outbox topic. @default the model's `topic` */
  topic?: string;
}

/** Options of one `update` call. */
export interface ModelUpdateOptions<TRecord, TClient = unknown> extends ModelWriteOptions<TRecord, TClient> {
  /** The record before the update: passed to hooks and sent as the event's `before`. */
  previous?: TRecord;
}

/** Options of {@link defineModelEvents}. */
export interface DefineModelEventsOptions<TRecord> {
  /**
   * The outbox topic the model's events are added to; it must be the topic your consumers read
   * (the ferry's `topic`). @default "events"
   */
  topic?: string;
  /**
   * The ordering key of a record's events, so that a record's `created`, `updated` and `deleted`
   * are handled in order. Return `undefined` for no key.
   * @default the record's `id` (as a string) when it is a string or a number
   */
  key?: (record: TRecord) => string | undefined;
  /** Schema version of the three definitions (see `defineEvent`). @default 1 */
  version?: number;
}

/**
 * A model's lifecycle events: typed definitions `created`, `updated`, `deleted` (usable with
 * `ferry.on` and `ferry.onModel`), hook registration, and the writes that run the hooks and add
 * the event to the outbox inside your transaction.
 */
export interface ModelEvents<TName extends string = string, TSchema extends z.ZodType = z.ZodType> {
  readonly kind: "eventferry.model-events";
  readonly name: TName;
  readonly schema: TSchema;
  /** The outbox topic the events go to. */
  readonly topic: string;
  /** `<name>.created`; data: the record. */
  readonly created: EventDefinition<`${TName}.created`, TSchema>;
  /** `<name>.updated`; data: `{ before?, after }`. */
  readonly updated: EventDefinition<`${TName}.updated`, ModelUpdatedSchema<TSchema>>;
  /** `<name>.deleted`; data: the record. */
  readonly deleted: EventDefinition<`${TName}.deleted`, TSchema>;
  /** The three definitions, for a registry or the ferry's `events` option. */
  readonly definitions: readonly [
    EventDefinition<`${TName}.created`, TSchema>,
    EventDefinition<`${TName}.updated`, ModelUpdatedSchema<TSchema>>,
    EventDefinition<`${TName}.deleted`, TSchema>,
  ];
  /**
   * Registers a hook run before every `action` (in registration order), inside the transaction,
   * before the write and the outbox add. Throwing vetoes the write. Returns an unregister function.
   * `TClient` is your store's transaction client (the hook runs with the `tx` given to the write).
   */
  before<TClient = unknown>(action: ModelAction, hook: ModelHook<z.output<TSchema>, TClient>): () => void;
  /**
   * Registers a hook run after every `action` (in registration order), inside the transaction, once
   * the event is in the outbox. Throwing still rolls the transaction back. Returns an unregister function.
   */
  after<TClient = unknown>(action: ModelAction, hook: ModelHook<z.output<TSchema>, TClient>): () => void;
  /**
   * Validates `record`, runs the `before` hooks, your `write`, adds `<name>.created` to the outbox
   * (and the log) through `tx`, then runs the `after` hooks. Resolves with the envelope. Throws a
   * `ValidationError` for an invalid record, or what a hook or `write` threw: let it reject your
   * `store.transaction` callback so that everything rolls back.
   */
  create<TClient>(
    tx: StoreTx<TClient>,
    record: z.input<TSchema>,
    options?: ModelWriteOptions<z.output<TSchema>, TClient>,
  ): Promise<EventEnvelope<`${TName}.created`, z.output<TSchema>>>;
  /** Like {@link ModelEvents.create}, for `<name>.updated` (`record` is the record after the update). */
  update<TClient>(
    tx: StoreTx<TClient>,
    record: z.input<TSchema>,
    options?: ModelUpdateOptions<z.output<TSchema>, TClient>,
  ): Promise<EventEnvelope<`${TName}.updated`, z.output<ModelUpdatedSchema<TSchema>>>>;
  /** Like {@link ModelEvents.create}, for `<name>.deleted` (`record` is the record deleted). */
  delete<TClient>(
    tx: StoreTx<TClient>,
    record: z.input<TSchema>,
    options?: ModelWriteOptions<z.output<TSchema>, TClient>,
  ): Promise<EventEnvelope<`${TName}.deleted`, z.output<TSchema>>>;
}

/**
 * Any model's definitions, whatever its record type: what `ferry.onModel` and the ferry's `models`
 * option take. (A `ModelEvents<"user", …>` is one; the full `ModelEvents` is not assignable to
 * `ModelEvents<string>` because its writes take the model's own record type.)
 */
export type AnyModelEvents = Pick<
  ModelEvents,
  "kind" | "name" | "schema" | "topic" | "created" | "updated" | "deleted" | "definitions"
>;

/** Maps an action to the event it emits. */
export const modelEventOf: Readonly<Record<ModelAction, ModelEventName>> = Object.freeze({
  create: "created",
  update: "updated",
  delete: "deleted",
});

const ACTIONS: readonly ModelAction[] = ["create", "update", "delete"];

/** True for a value made by {@link defineModelEvents}. */
export function isModelEvents(value: unknown): value is AnyModelEvents {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as { kind?: unknown }).kind === "eventferry.model-events"
  );
}

function defaultKey(record: unknown): string | undefined {
  const id = typeof record === "object" && record !== null ? (record as { id?: unknown }).id : undefined;
  return typeof id === "string" || typeof id === "number" ? String(id) : undefined;
}

/**
 * Defines a model's lifecycle events — `<name>.created`, `<name>.updated` and `<name>.deleted` —
 * with `before`/`after` hooks for create, update and delete. The writes run inside your store
 * transaction: `before` hooks (a throw vetoes: your transaction rolls back, nothing is published),
 * your `write`, the outbox add (the event exists if and only if the transaction commits), then the
 * `after` hooks. The relay publishes the events after the commit. Throws a `ConfigError` for an
 * invalid name or options.
 *
 * @example
 * const User = defineModelEvents("user", z.object({ id: z.string(), email: z.string().email() }));
 * User.before("create", async ({ record }) => {
 *   if (record.email.endsWith("@blocked.example")) throw new Error("blocked domain"); // veto
 * });
 * await store.transaction(async (tx) => {
 *   await User.create(tx, { id: "u-1", email: "ada@example.com" }, {
 *     write: (user) => tx.client.query("insert into users (id, email) values ($1, $2)", [user.id, user.email]),
 *   });
 * });
 * ferry.onModel(User, "created", async (event) => console.log(event.data.email));
 */
export function defineModelEvents<const TName extends string, TSchema extends z.ZodType>(
  name: TName,
  schema: TSchema,
  options: DefineModelEventsOptions<z.output<TSchema>> = {},
): ModelEvents<TName, TSchema> {
  type TRecord = z.output<TSchema>;
  const problems: string[] = [];
  if (typeof name !== "string" || name.length === 0) problems.push("name must be a non-empty string");
  if (!(schema instanceof z.ZodType)) problems.push("schema must be a zod schema");
  const topic = options?.topic ?? "events";
  if (typeof topic !== "string" || topic.length === 0) problems.push("topic must be a non-empty string");
  if (options?.key !== undefined && typeof options.key !== "function")
    problems.push("key must be a function");
  if (problems.length > 0) {
    throw new ConfigError(`[eventferry:outbox] invalid model "${String(name)}": ${problems.join("; ")}`, {
      problems,
    });
  }
  const eventOptions = options.version === undefined ? {} : { version: options.version };
  // defineEvent checks the type names (and the version): a bad name throws its ConfigError here.
  const created = defineEvent(`${name}.created`, schema, eventOptions);
  const updated = defineEvent(
    `${name}.updated`,
    z.object({ before: schema.optional(), after: schema }) as ModelUpdatedSchema<TSchema>,
    eventOptions,
  );
  const deleted = defineEvent(`${name}.deleted`, schema, eventOptions);
  const keyOf = options.key ?? defaultKey;

  const hooks = {
    before: new Map<ModelAction, ModelHook<TRecord, unknown>[]>(ACTIONS.map((a) => [a, []])),
    after: new Map<ModelAction, ModelHook<TRecord, unknown>[]>(ACTIONS.map((a) => [a, []])),
  };
  const register = (when: "before" | "after", action: ModelAction, hook: ModelHook<TRecord, never>) => {
    const list = hooks[when].get(action);
    if (!list) {
      throw new ConfigError(
        `[eventferry:outbox] model "${name}": ${when}() takes "create", "update" or "delete", got ${JSON.stringify(action)}`,
      );
    }
    if (typeof hook !== "function") {
      throw new ConfigError(`[eventferry:outbox] model "${name}": ${when}("${action}") needs a function`);
    }
    const h = hook as ModelHook<TRecord, unknown>;
    list.push(h);
    return () => {
      const i = list.indexOf(h);
      if (i >= 0) list.splice(i, 1);
    };
  };

  const parseRecord = (action: ModelAction, record: unknown): TRecord => {
    const parsed = schema.safeParse(record);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(record)"}: ${i.message}`);
      throw new ValidationError(
        `[eventferry:outbox] ${name}.${action}: invalid record: ${issues.join("; ")}`,
        { issues, cause: parsed.error },
      );
    }
    return parsed.data as TRecord;
  };

  async function run(
    action: ModelAction,
    tx: StoreTx<unknown>,
    input: unknown,
    callOptions: ModelUpdateOptions<TRecord, unknown> | undefined,
  ): Promise<EventEnvelope> {
    if (typeof tx?.outbox?.add !== "function" || typeof tx.append !== "function") {
      throw new ValidationError(
        `[eventferry:outbox] ${name}.${action} takes a store transaction (the tx of store.transaction)`,
      );
    }
    const {
      write,
      topic: callTopic,
      previous: previousInput,
      ...envelopeOptions
    } = (callOptions ?? {}) as Omit<ModelUpdateOptions<TRecord, unknown>, "previous"> & {
      previous?: unknown;
    };
    const record = parseRecord(action, input);
    const previous = previousInput === undefined ? undefined : parseRecord(action, previousInput);
    const change: ModelChange<TRecord, unknown> = { model: name, action, record, previous, tx };
    // Copies: a hook that (un)registers hooks does not change this write's list.
    for (const hook of [...(hooks.before.get(action) ?? [])]) await hook(change);
    if (write) await write(record, tx);
    const key = envelopeOptions.key ?? keyOf(record);
    const options = key === undefined ? envelopeOptions : { ...envelopeOptions, key };
    // Built from the inputs (createEnvelope validates them again): a schema with transforms is
    // never applied twice.
    const envelope =
      action === "update"
        ? createEnvelope(
            updated,
            (previousInput === undefined
              ? { after: input }
              : { before: previousInput, after: input }) as never,
            options,
          )
        : createEnvelope(action === "create" ? created : deleted, input as never, options);
    await publishInTransaction(tx, callTopic ?? topic, [envelope as EventEnvelope]);
    for (const hook of [...(hooks.after.get(action) ?? [])]) await hook(change);
    return envelope as EventEnvelope;
  }

  const model: ModelEvents<TName, TSchema> = {
    kind: "eventferry.model-events",
    name,
    schema,
    topic,
    created,
    updated,
    deleted,
    definitions: [created, updated, deleted],
    before: (action, hook) => register("before", action, hook as ModelHook<TRecord, never>),
    after: (action, hook) => register("after", action, hook as ModelHook<TRecord, never>),
    create: (tx, record, o) => run("create", tx, record, o as ModelUpdateOptions<TRecord, unknown>) as never,
    update: (tx, record, o) => run("update", tx, record, o as ModelUpdateOptions<TRecord, unknown>) as never,
    delete: (tx, record, o) => run("delete", tx, record, o as ModelUpdateOptions<TRecord, unknown>) as never,
  };
  return Object.freeze(model);
}
