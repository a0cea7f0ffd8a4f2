// sluice's own HTTP/2 server role: the downstream side of the proxy. Sockets come from the
// listener, which has already seen the client preface (and put it back).
import type { Socket } from "node:net";
import { tracer } from "../../core/trace.js";
import { normalizeAddress } from "../address.js";
import type { Headers, ServerConnection, ServerHandlers, ServerStream, ServerTransport, ServerTransportOptions } from "../types.js";
import { H2Connection, DEFAULT_CONNECTION_OPTIONS, type H2ConnectionOptions } from "./connection.js";
import { SettingId } from "./frames/constants.js";
import { H2Stream, StreamState } from "./stream.js";

const trace = tracer("h2");

/** A request stream: the transport's ServerStream on an H2Stream. */
class H2ServerStream extends H2Stream implements ServerStream {
  constructor(
    conn: H2ServerConnection,
    id: number,
    readonly headers: Headers,
  ) {
    super(conn, id, StreamState.OPEN, conn.peerInitialWindow, conn.streamWindow);
  }

  respond(headers: Headers, endStream: boolean): void {
    if (this.responded || !this.canRespond()) return;
    this.responded = true;
    this.sendHeaders(headers, endStream);
  }

  respondPlain(status: number, body: string): void {
    if (this.responded || !this.canRespond()) return;
    this.responded = true;
    this.sendHeaders({ ":status": String(status), "content-type": "text/plain; charset=utf-8" }, false);
    this.write(Buffer.from(body, "utf8"));
    this.end();
  }

  private canRespond(): boolean {
    return this.state === StreamState.OPEN || this.state === StreamState.HALF_CLOSED_REMOTE;
  }
}

export class H2ServerConnection extends H2Connection implements ServerConnection {
  readonly id: number;
  readonly remoteAddress: string;
  readonly remotePort: number;

  constructor(
    socket: Socket,
    options: H2ConnectionOptions,
    private readonly handlers: ServerHandlers,
  ) {
    super(socket, options, "server");
    this.id = this.connectionId;
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? "");
    this.remotePort = socket.remotePort ?? 0;
  }

  get streamWindow(): number {
    return this.options.initialWindowSize;
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  goaway(code: number, debug: string): void {
    this.connectionError(code, debug, true);
  }

  start(): void {
    trace("connection open", { id: this.id, peer: `${this.remoteAddress}:${this.remotePort}` });
    this.handlers.onConnection(this);
    this.sendPreface([
      [SettingId.MAX_CONCURRENT_STREAMS, this.options.maxConcurrentStreams],
      [SettingId.INITIAL_WINDOW_SIZE, this.options.initialWindowSize],
      [SettingId.MAX_HEADER_LIST_SIZE, this.options.maxHeaderListSize],
    ]);
    this.socket.resume();
  }

  protected createPeerStream(id: number, headers: Headers): H2Stream {
    return new H2ServerStream(this, id, headers);
  }

  protected onPeerStream(stream: H2Stream): void {
    this.handlers.onStream(stream as H2ServerStream, this);
  }

  protected onPeerSettings(): void {
    // The server may use the connection before the client's SETTINGS: nothing waits on it.
  }

  protected onPeerGoaway(): void {
    // The client opens no more streams; the ones in flight finish, then we close.
  }

  protected override onPeerPing(): void {
    this.handlers.onPing?.(this);
  }

  protected override onStreamClosed(): void {
    this.handlers.onStreamClose?.(this);
  }

  protected onClosed(): void {
    trace("connection closed", { id: this.id });
    this.handlers.onConnectionClose(this);
  }

  protected resetReason(): string {
    return "downstream closed";
  }
}

export class H2Server implements ServerTransport {
  private readonly connections = new Set<H2ServerConnection>();
  private readonly options: H2ConnectionOptions;
  /** Shared by every connection (no closures per connection): the owner's, plus our bookkeeping. */
  private readonly connectionHandlers: ServerHandlers;

  /** `tuning` overrides connection defaults (tests shorten timeouts with it). */
  constructor(options: ServerTransportOptions, handlers: ServerHandlers, tuning: Partial<H2ConnectionOptions> = {}) {
    this.options = {
      ...DEFAULT_CONNECTION_OPTIONS,
      ...tuning,
      initialWindowSize: options.initialWindowSize,
      connectionWindowSize: Math.max(DEFAULT_CONNECTION_OPTIONS.connectionWindowSize, options.initialWindowSize * 16),
      maxConcurrentStreams: options.maxConcurrentStreams,
      frameReadTimeoutMs: options.frameReadTimeoutMs ?? tuning.frameReadTimeoutMs ?? DEFAULT_CONNECTION_OPTIONS.frameReadTimeoutMs,
    };
    this.connectionHandlers = {
      onConnection: (c) => handlers.onConnection(c),
      onStream: (s, c) => handlers.onStream(s, c),
      onConnectionClose: (c) => {
        this.connections.delete(c as H2ServerConnection);
        handlers.onConnectionClose(c);
      },
    };
    // Optional hooks only when the owner has them: a stream's close costs no call otherwise.
    if (handlers.onStreamClose !== undefined) this.connectionHandlers.onStreamClose = (c) => handlers.onStreamClose!(c);
    if (handlers.onPing !== undefined) this.connectionHandlers.onPing = (c) => handlers.onPing!(c);
  }

  accept(socket: Socket): void {
    const conn = new H2ServerConnection(socket, this.options, this.connectionHandlers);
    this.connections.add(conn);
    conn.start();
  }

  drainAll(): void {
    for (const c of this.connections) c.drain();
  }

  destroyAll(): void {
    for (const c of [...this.connections]) c.destroy();
  }
}
