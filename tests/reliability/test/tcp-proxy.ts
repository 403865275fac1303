// A TCP proxy between a worker and a server that can go silent: it keeps every socket open but
// stops forwarding bytes both ways (a half-open connection, as after a NAT or firewall drops its
// state), then resumes (the held bytes flow on, in order) or drops (destroys both ends).
// Connections opened while it stalls are forwarded normally: only the existing ones are dead,
// as with a half-open socket.
import net from "node:net";

interface Pair {
  readonly client: net.Socket;
  readonly server: net.Socket;
  stalled: boolean;
  readonly heldToServer: Buffer[];
  readonly heldToClient: Buffer[];
}

export class TcpProxy {
  readonly #server: net.Server;
  readonly #pairs = new Set<Pair>();
  #port = 0;
  /** Connections accepted so far. */
  accepted = 0;
  /** Bytes held back by stalls so far, each way. */
  heldBytes = 0;

  private constructor(target: { host: string; port: number }) {
    this.#server = net.createServer((client) => {
      this.accepted++;
      const server = net.connect(target.port, target.host);
      const pair: Pair = { client, server, stalled: false, heldToServer: [], heldToClient: [] };
      this.#pairs.add(pair);
      client.setNoDelay(true);
      server.setNoDelay(true);
      const forward = (to: net.Socket, held: Buffer[]) => (chunk: Buffer) => {
        if (pair.stalled) {
          held.push(chunk);
          this.heldBytes += chunk.length;
        } else if (!to.destroyed) to.write(chunk);
      };
      client.on("data", forward(server, pair.heldToServer));
      server.on("data", forward(client, pair.heldToClient));
      const close = (): void => {
        this.#pairs.delete(pair);
        client.destroy();
        server.destroy();
      };
      // A stalled pair hides the far end's close too: it stays open until resumed or dropped.
      const onEnd = (): void => {
        if (!pair.stalled) close();
      };
      client.on("close", onEnd);
      server.on("close", onEnd);
      client.on("error", () => {});
      server.on("error", () => {});
    });
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const proxy = new TcpProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    proxy.#port = (proxy.#server.address() as net.AddressInfo).port;
    return proxy;
  }

  get port(): number {
    return this.#port;
  }

  /** Open connections (pairs). */
  get connections(): number {
    return this.#pairs.size;
  }

  /** Stops forwarding on every open connection; returns how many went silent. */
  stall(): number {
    for (const pair of this.#pairs) pair.stalled = true;
    return this.#pairs.size;
  }

  /** Forwards again what was held, then everything after it. */
  resume(): void {
    for (const pair of this.#pairs) {
      if (!pair.stalled) continue;
      pair.stalled = false;
      for (const chunk of pair.heldToServer.splice(0)) if (!pair.server.destroyed) pair.server.write(chunk);
      for (const chunk of pair.heldToClient.splice(0)) if (!pair.client.destroyed) pair.client.write(chunk);
      if (pair.client.destroyed || pair.server.destroyed) {
        pair.client.destroy();
        pair.server.destroy();
        this.#pairs.delete(pair);
      }
    }
  }

  /** Destroys every stalled connection (both ends, with a reset). */
  drop(): number {
    let n = 0;
    for (const pair of [...this.#pairs]) {
      if (!pair.stalled) continue;
      n++;
      this.#pairs.delete(pair);
      pair.client.resetAndDestroy();
      pair.server.resetAndDestroy();
    }
    return n;
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.server.destroy();
    }
    this.#pairs.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
