// HTTP/2 connections to one endpoint. Connections open lazily when a stream is needed and
// none has room; each offers min(peer MAX_CONCURRENT_STREAMS, http.maxConcurrentStreams,
// streams left before cycling) streams. After maxRequestsPerConnection streams a
// connection takes no more and closes once its in-flight streams finish.
import { Status, SluiceError } from "../core/status.js";
import { tracer } from "../core/trace.js";
import type { ClientConnection, ClientTransport, Headers, Stream, StreamListener } from "../transport/types.js";

const trace = tracer("pool");

export interface PoolSettings {
  readonly connectTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly maxConcurrentStreams: number;
  readonly maxConnections: number;
}

type ConnState = "CONNECTING" | "READY" | "DRAINING" | "CLOSED";

const ALLOWED: Record<ConnState, readonly ConnState[]> = {
  CONNECTING: ["READY", "CLOSED"],
  READY: ["DRAINING", "CLOSED"],
  DRAINING: ["CLOSED"],
  CLOSED: [],
};

export class PooledConnection {
  state: ConnState = "CONNECTING";
  /** Streams in flight. */
  active = 0;
  /** Streams ever opened (for maxRequestsPerConnection). */
  opened = 0;
  conn!: ClientConnection;

  constructor(readonly id: number) {}

  transition(to: ConnState, why: string): void {
    if (!ALLOWED[this.state].includes(to)) return;
    trace("connection state", { id: this.id, from: this.state, to, why });
    this.state = to;
  }
}

export type AcquireCallback = (conn: PooledConnection | SluiceError) => void;

let nextId = 1;

export class EndpointPool {
  private readonly connections: PooledConnection[] = [];
  private readonly waiters: AcquireCallback[] = [];

  constructor(
    readonly address: string,
    readonly port: number,
    private readonly settings: PoolSettings,
    private readonly transport: ClientTransport,
  ) {}

  /** A READY connection with room for one stream right now, if there is one. */
  tryAcquire(): PooledConnection | undefined {
    return this.findReady();
  }

  /**
   * Calls back with a READY connection that has room for one stream, or an error. The
   * callback must open its stream (openStream) before returning, or not use the connection.
   */
  acquire(cb: AcquireCallback): void {
    const ready = this.findReady();
    if (ready !== undefined) return cb(ready);
    this.waiters.push(cb);
    if (!this.connections.some((c) => c.state === "CONNECTING")) {
      if (this.liveCount() < this.settings.maxConnections) this.openConnection();
    }
  }

  /** Opens a stream on a connection obtained from acquire(). */
  openStream(pc: PooledConnection, headers: Headers, listener: StreamListener): Stream {
    pc.active++;
    pc.opened++;
    const limit = this.settings.maxRequestsPerConnection;
    if (limit > 0 && pc.opened >= limit) pc.transition("DRAINING", "maxRequestsPerConnection reached");
    return pc.conn.open(headers, listener);
  }

  /** A stream opened with openStream() ended. */
  release(pc: PooledConnection): void {
    pc.active--;
    if (pc.state === "DRAINING" && pc.active === 0) {
      pc.conn.drain();
    } else if (this.waiters.length > 0) {
      if (this.hasRoom(pc)) this.serveWaiters(pc);
      else if (!pc.conn.usable) this.openForWaiters();
    }
  }

  /** The endpoint went away: no new streams; connections close as their streams finish. */
  retire(): void {
    for (const pc of this.connections) {
      pc.transition("DRAINING", "endpoint removed");
      if (pc.active === 0) pc.conn.drain();
    }
    this.failWaiters(new SluiceError(Status.UNAVAILABLE, "upstream endpoint removed"));
  }

  close(): void {
    for (const pc of [...this.connections]) pc.conn.destroy();
    this.failWaiters(new SluiceError(Status.UNAVAILABLE, "upstream pool closed"));
  }

  private liveCount(): number {
    let n = 0;
    for (const c of this.connections) if (c.state !== "CLOSED") n++;
    return n;
  }

  private capacity(pc: PooledConnection): number {
    const s = this.settings;
    const left = s.maxRequestsPerConnection > 0 ? s.maxRequestsPerConnection - pc.opened : Infinity;
    return Math.min(pc.conn.peerMaxConcurrentStreams, s.maxConcurrentStreams, left) - pc.active;
  }

  private findReady(): PooledConnection | undefined {
    for (const pc of this.connections) {
      if (this.hasRoom(pc)) return pc;
    }
    return undefined;
  }

  /** READY, still open (node closes streams before it reports the session gone), with room. */
  private hasRoom(pc: PooledConnection): boolean {
    return pc.state === "READY" && pc.conn.usable && this.capacity(pc) > 0;
  }

  /** Forgets a waiter whose RPC ended before a connection came. */
  cancel(cb: AcquireCallback): void {
    const i = this.waiters.indexOf(cb);
    if (i >= 0) this.waiters.splice(i, 1);
  }

  private openConnection(): void {
    const pc = new PooledConnection(nextId++);
    this.connections.push(pc);
    trace("connect", { id: pc.id, target: `${this.address}:${this.port}` });
    pc.conn = this.transport.connect(
      { host: this.address, port: this.port, connectTimeoutMs: this.settings.connectTimeoutMs },
      {
        onReady: () => {
          pc.transition("READY", "peer settings received");
          this.serveWaiters(pc);
        },
        onGoaway: () => pc.transition("DRAINING", "peer sent GOAWAY"),
        onClose: (error) => {
          const wasConnecting = pc.state === "CONNECTING";
          pc.transition("CLOSED", error?.message ?? "closed");
          const i = this.connections.indexOf(pc);
          if (i >= 0) this.connections.splice(i, 1);
          if (wasConnecting) {
            const reason = describeConnectError(error);
            this.failWaiters(new SluiceError(Status.UNAVAILABLE, `upstream connect error: ${reason}`, { cause: error }));
          } else if (this.waiters.length > 0) {
            this.openForWaiters();
          }
        },
      },
    );
  }

  /** Waiters remain but no connection can take them: open one if the limits allow. */
  private openForWaiters(): void {
    const ready = this.findReady();
    if (ready !== undefined) return this.serveWaiters(ready);
    if (!this.connections.some((c) => c.state === "CONNECTING") && this.liveCount() < this.settings.maxConnections) {
      this.openConnection();
    }
  }

  private serveWaiters(pc: PooledConnection): void {
    while (this.waiters.length > 0) {
      if (this.hasRoom(pc)) {
        const cb = this.waiters.shift()!;
        // Reserve now so the next waiter sees the capacity that is really left.
        cb(pc);
        continue;
      }
      // This connection is full: more waiters need another one.
      if (pc.conn.usable && !this.connections.some((c) => c.state === "CONNECTING") && this.liveCount() < this.settings.maxConnections) {
        this.openConnection();
      }
      return;
    }
  }

  private failWaiters(err: SluiceError): void {
    const waiters = this.waiters.splice(0);
    for (const cb of waiters) cb(err);
  }
}

function describeConnectError(error: Error | undefined): string {
  if (error === undefined) return "connection closed before it was ready";
  const code = (error as NodeJS.ErrnoException).code;
  return code !== undefined ? `${code} (${error.message})` : error.message;
}
