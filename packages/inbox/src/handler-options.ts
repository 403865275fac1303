import type { Duration, Middleware, RetryOptions } from "@eventferry/core";

/** Options of one handler. */
export interface HandlerOptions {
  /**
   * Unique within the consumer group; it names the handler's inbox entries, so renaming a handler
   * orphans its pending entries. @default the definition's type, or the pattern
   */
  name?: string;
  /** Retry policy; `false` means one attempt. @default the inbox's `retry` option */
  retry?: RetryOptions | false;
  /** Aborts the handler's signal and fails the attempt after this long. @default the inbox's `handlerTimeout` */
  timeout?: Duration;
  /** Middleware for this handler only; runs inside the plugins' middleware. */
  middleware?: readonly Middleware[];
}
