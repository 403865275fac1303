import pg from "pg";
import { quoteIdent } from "./names.js";

/**
 * One dedicated connection that LISTENs on the store's channel and calls `onNotify` for every
 * notification — and once after each (re)connect, since notifications sent while it was down are
 * lost. On an error or a terminated backend it reconnects with backoff and LISTENs again.
 *
 * A connection that goes silent for good (half-open: a proxy or NAT keeps the socket open but
 * forwards nothing) raises no error: every `checkMs` the listener sends `SELECT 1`, and one that
 * gets no answer within `checkMs` drops the connection like an error does (re-LISTEN on a new
 * one). Until then, and until the new one LISTENs, waiters end by their timeouts (callers poll).
 */
export class PgListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #onNotify: () => void;
  #client: pg.Client | undefined;
  #starting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The health check of the current connection. */
  #check: NodeJS.Timeout | undefined;
  #backoffMs = 50;
  #stopped = false;
  readonly #checkMs: number | false;
  /** Connections made so far (tests watch it to see a re-LISTEN). */
  connects = 0;
  /** Connections dropped because a health check got no answer in time. */
  silentDrops = 0;

  /** @param checkMs interval and timeout of the `SELECT 1` health check; `false`: none. */
  constructor(
    config: pg.ClientConfig,
    channel: string,
    onNotify: () => void,
    checkMs: number | false = false,
  ) {
    this.#config = config;
    this.#channel = channel;
    this.#onNotify = onNotify;
    this.#checkMs = checkMs;
  }

  /** True while a connection is LISTENing. */
  get listening(): boolean {
    return this.#client !== undefined;
  }

  /** Starts listening (idempotent); resolves once LISTEN succeeded or failed (a retry is scheduled). */
  start(): Promise<void> {
    if (this.#stopped || this.#client) return Promise.resolve();
    this.#starting ??= this.#connect().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #connect(): Promise<void> {
    const client = new pg.Client(this.#config);
    let dropped = false;
    let check: NodeJS.Timeout | undefined;
    const drop = (): void => {
      if (dropped) return;
      dropped = true;
      clearInterval(check);
      if (this.#check === check) this.#check = undefined;
      if (this.#client === client) this.#client = undefined;
      // With a statement in flight (a health check that got no answer) `end()` destroys the
      // socket instead of waiting for a goodbye that would never come.
      client.end().catch(() => {});
      this.#schedule();
    };
    client.on("error", drop);
    client.on("end", drop);
    client.on("notification", () => this.#onNotify());
    const timeout = this.#checkMs === false ? {} : { query_timeout: this.#checkMs };
    try {
      await client.connect();
      await client.query({ text: `LISTEN ${quoteIdent(this.#channel)}`, ...timeout });
    } catch {
      drop();
      return;
    }
    if (this.#stopped || dropped) {
      client.removeAllListeners("end");
      await client.end().catch(() => {});
      return;
    }
    this.#client = client;
    this.#backoffMs = 50;
    this.connects++;
    if (this.#checkMs !== false) {
      let inFlight = false;
      check = setInterval(() => {
        if (inFlight || dropped || this.#stopped) return;
        inFlight = true;
        client.query({ text: "SELECT 1", ...timeout }).then(
          () => {
            inFlight = false;
          },
          () => {
            if (!dropped && !this.#stopped) this.silentDrops++;
            drop();
          },
        );
      }, this.#checkMs);
      check.unref?.();
      this.#check = check;
    }
    // Anything sent while no one listened is lost: let waiters look.
    this.#onNotify();
  }

  #schedule(): void {
    if (this.#stopped || this.#timer) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, 5_000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.start();
    }, delay);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#starting?.catch(() => {});
    const client = this.#client;
    this.#client = undefined;
    clearInterval(this.#check);
    this.#check = undefined;
    if (client) {
      client.removeAllListeners("end");
      await client.end().catch(() => {});
    }
  }
}
