import { ConfigError, type Handler, HandlerError, type Middleware, ValidationError } from "@eventferry/core";

/** Options of {@link deadLetter}. */
export interface DeadLetterOptions {
  /** Errors that no retry can fix. @default a `ValidationError` */
  when?: (error: unknown) => boolean;
}

/**
 * The error {@link deadLetter} throws: it carries `deadLetter: true`, which tells the engine to
 * dead-letter the entry now instead of using its remaining attempts. The original error is its
 * `cause`. Throw one yourself (or any error with `deadLetter: true`) for the same effect.
 */
export class DeadLetterRequest extends HandlerError {
  readonly deadLetter = true as const;
  constructor(cause: unknown, handler?: string) {
    const message = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`[eventferry:inbox] dead-lettered at once: ${message}`, {
      cause,
      retryable: false,
      ...(handler ? { details: { handler } } : {}),
    });
    this.name = "DeadLetterRequest";
    if (cause instanceof Error && cause.stack) this.stack = `${this.stack ?? ""}\nCaused by: ${cause.stack}`;
  }
}

/**
 * Dead-letters an entry at once, without using its remaining attempts, when the handler fails
 * with an error that `when` matches (e.g. a `ValidationError`: the same input fails the same way
 * every time). Other errors pass through to the retry policy.
 *
 * @example
 * ferry.on(OrderCreated, handler, {
 *   middleware: [deadLetter({ when: (e) => e instanceof ValidationError || e instanceof SyntaxError })],
 * })
 */
export function deadLetter(options: DeadLetterOptions = {}): Middleware {
  if (options.when !== undefined && typeof options.when !== "function") {
    throw new ConfigError("[eventferry:inbox] deadLetter({ when }) must be a function", {
      problems: ["when must be a function"],
    });
  }
  const when = options.when ?? ((error: unknown) => error instanceof ValidationError);
  return (next: Handler): Handler =>
    async function deadLetterMiddleware(event, ctx) {
      try {
        await next(event, ctx);
      } catch (error) {
        if (error instanceof DeadLetterRequest || !when(error)) throw error;
        throw new DeadLetterRequest(error, ctx.handlerName);
      }
    };
}
