// JetStream publishes with their PubAcks collected on one subscription per connection.
//
// `js.publish` sends each message as a core request: a promise, a timer, and — once the PubAck has
// arrived — a `RequestError("cancelled")` with its stack, built by the client's own clean-up, per
// message (10% of the CPU of the outbox relay on NATS, and garbage to collect). Here a message is
// published with a reply subject under one inbox subscription; the PubAck settles a table entry,
// and one sweep a little more often than the timeout expires what was not answered in time.
import type { PubAck } from "@nats-io/jetstream";
import {
  createInbox,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";

interface Waiting {
  readonly resolve: (ack: PubAck) => void;
  readonly reject: (error: unknown) => void;
  readonly deadline: number;
}

/** A JetStream API error answered in place of a PubAck (stream full, wrong subject, …). */
export class PubAckApiError extends Error {
  readonly #api: { code: number; err_code: number; description: string };

  constructor(api: { code: number; err_code: number; description: string }) {
    super(api.description);
    this.name = "JetStreamApiError";
    this.#api = api;
  }

  /** As `@nats-io/jetstream`'s JetStreamApiError: what `classifyNatsError` reads. */
  apiError(): { code: number; err_code: number; description: string } {
    return this.#api;
  }
}

const decoder = new TextDecoder();

export class PubAcks {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #sub: Subscription;
  readonly #waiting = new Map<string, Waiting>();
  readonly #sweep: NodeJS.Timeout;
  #next = 0;
  #closed = false;

  constructor(nc: NatsConnection, timeoutMs: number) {
    this.#nc = nc;
    // Under the connection's inbox prefix, where a client with narrow permissions may subscribe.
    const inboxPrefix = (nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix;
    this.#prefix = `${createInbox(inboxPrefix)}.`;
    this.#sub = nc.subscribe(`${this.#prefix}*`, { callback: (_error, msg) => this.#answer(msg) });
    this.#sweep = setInterval(() => this.#expire(Date.now()), Math.max(10, Math.min(250, timeoutMs / 4)));
    this.#sweep.unref?.();
    void this.#sub.closed.then(() => this.close(new Error("closed connection")));
  }

  /** Messages published and not yet answered. */
  get waiting(): number {
    return this.#waiting.size;
  }

  /**
   * Publishes `payload` to `subject` (headers as given, `Nats-Msg-Id` among them) and resolves to
   * its PubAck; rejects with the server's API error, a `NoRespondersError`-named error when no
   * stream takes the subject, a `TimeoutError`-named error after `timeoutMs`, or what the client
   * threw (closed connection, payload over `max_payload`).
   */
  publish(subject: string, payload: Uint8Array, headers: MsgHdrs, timeoutMs: number): Promise<PubAck> {
    if (this.#closed) return Promise.reject(new Error("closed connection"));
    const token = (this.#next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      this.#waiting.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
      try {
        this.#nc.publish(subject, payload, { reply: this.#prefix + token, headers });
      } catch (error) {
        this.#waiting.delete(token);
        reject(error);
      }
    });
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length);
    const waiting = this.#waiting.get(token);
    if (waiting === undefined) return; // expired already
    this.#waiting.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      waiting.reject(named("NoRespondersError", "no responders: no JetStream stream takes this subject"));
      return;
    }
    let answer: {
      stream?: unknown;
      seq?: unknown;
      duplicate?: unknown;
      domain?: unknown;
      error?: { code?: unknown; err_code?: unknown; description?: unknown };
    };
    try {
      answer = JSON.parse(decoder.decode(msg.data));
    } catch {
      waiting.reject(named("JetStreamError", "invalid PubAck (not JSON)"));
      return;
    }
    if (answer.error !== undefined && answer.error !== null) {
      const e = answer.error;
      waiting.reject(
        new PubAckApiError({
          code: typeof e.code === "number" ? e.code : 0,
          err_code: typeof e.err_code === "number" ? e.err_code : 0,
          description: typeof e.description === "string" ? e.description : "JetStream API error",
        }),
      );
      return;
    }
    if (typeof answer.stream !== "string" || answer.stream === "" || typeof answer.seq !== "number") {
      waiting.reject(named("JetStreamError", "invalid ack response"));
      return;
    }
    const ack: PubAck = { stream: answer.stream, seq: answer.seq, duplicate: answer.duplicate === true };
    if (typeof answer.domain === "string") ack.domain = answer.domain;
    waiting.resolve(ack);
  }

  #expire(now: number): void {
    for (const [token, waiting] of this.#waiting) {
      if (waiting.deadline > now) continue;
      this.#waiting.delete(token);
      waiting.reject(named("TimeoutError", "timeout waiting for the PubAck"));
    }
  }

  /** Rejects what is still waiting with `reason` and stops listening; idempotent. */
  close(reason: unknown = new Error("closed connection")): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(reason);
    try {
      this.#sub.unsubscribe();
    } catch {
      // the connection is closed already
    }
  }
}

function named(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}
