import pg from "pg";
import { quoteIdent } from "./names.js";

/**
 * One dedicated connection that LISTENs on the store's channel and calls `onNotify` for every
 * notification — and once after each (re)connect, since notifications sent while it was down are
 * lost. On an error or a terminated backend it reconnects with backoff and LISTENs again.
 */
export class PgListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #onNotify: () => void;
  #client: pg.Client | undefined;
  #starting: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #backoffMs = 50;
  #stopped = false;
  /** Connections made so far (tests watch it to see a re-LISTEN). */
  connects = 0;

  constructor(config: pg.ClientConfig, channel: string, onNotify: () => void) {
    this.#config = config;
    this.#channel = channel;
    this.#onNotify = onNotify;
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
    const drop = (): void => {
      if (dropped) return;
      dropped = true;
      if (this.#client === client) this.#client = undefined;
      client.end().catch(() => {});
      this.#schedule();
    };
    client.on("error", drop);
    client.on("end", drop);
    client.on("notification", () => this.#onNotify());
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.#channel)}`);
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
    if (client) {
      client.removeAllListeners("end");
      await client.end().catch(() => {});
    }
  }
}
