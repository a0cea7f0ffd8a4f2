// Downstream HTTP/2 (h2c) server on node:http2. Sockets come from the proxy's listener,
// which has already checked for the HTTP/2 preface.
import http2 from "node:http2";
import type { Socket } from "node:net";
import { tracer } from "../../core/trace.js";
import { normalizeAddress } from "../address.js";
import { destroyAfterFin } from "../close-after-fin.js";
import { Http2ConnectionError } from "../errors.js";
import { h2CodeName, type ServerConnection, type ServerHandlers, type ServerTransport, type ServerTransportOptions } from "../types.js";
import { DeadSessionSweep, type Swept } from "./dead-sessions.js";
import { SessionPings } from "./ping.js";
import { NodeServerStream, type StreamOwner } from "./server-stream.js";

const trace = tracer("transport");

/** After GOAWAY with an error, how long the peer gets to read it before the socket goes. */
const CLOSE_LINGER_MS = 2000;
const MAX_DEBUG_DATA = 256;

let nextConnectionId = 1;

class NodeServerConnection implements ServerConnection, StreamOwner, Swept {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  readonly remotePort: number;
  activeStreams = 0;
  headersOrDataSent = 0;
  private pings: SessionPings | undefined;

  constructor(
    readonly session: http2.ServerHttp2Session,
    readonly socket: Socket,
    private readonly handlers: ServerHandlers,
  ) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? "");
    this.remotePort = socket.remotePort ?? 0;
  }

  streamOpened(): void {
    this.activeStreams++;
  }

  streamClosed(): void {
    this.activeStreams--;
    if (!this.session.destroyed) this.handlers.onStreamClose?.(this);
  }

  drain(): void {
    if (this.session.closed || this.session.destroyed) return;
    // node sends GOAWAY with the last stream id it processed and lets streams finish.
    this.session.close();
  }

  goaway(code: number, debug: string): void {
    // Callers may be inside one of nghttp2's callbacks (a stream's reset, say): destroying the
    // session there frees what nghttp2 is still using (node aborts on its memory accounting).
    setImmediate(() => this.goawayNow(code, debug));
  }

  private goawayNow(code: number, debug: string): void {
    const session = this.session;
    if (session.destroyed) return;
    trace("goaway sent", { id: this.id, code, debug });
    // Last stream id 0: node puts in the last one it processed. destroy() then resets the
    // streams and sends a second GOAWAY with the same code (without debug data).
    session.goaway(code, 0, Buffer.from(debug.slice(0, MAX_DEBUG_DATA), "latin1"));
    session.destroy(new Http2ConnectionError(`sent GOAWAY ${h2CodeName(code)}: ${debug}`, code), code);
    const socket = this.socket;
    setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  ping(onAck: (ok: boolean) => void, timeoutMs: number): void {
    this.pings ??= new SessionPings(this.session);
    this.pings.ping(onAck, timeoutMs);
  }

  destroy(): void {
    this.session.destroy();
    // node would wait for the socket's queued output to drain, which a dead peer never reads.
    this.socket.destroy();
  }

  closed(): void {
    this.pings?.closeAll();
  }
}

export class NodeH2Server implements ServerTransport {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Sessions nghttp2 ended after a protocol error, which node would keep open for ever. */
  private readonly dead = new DeadSessionSweep();
  /** The socket being handed to node: `session.socket` is a proxy that refuses destroy(). */
  private accepting: Socket | undefined;

  constructor(options: ServerTransportOptions, handlers: ServerHandlers) {
    this.server = http2.createServer({
      settings: {
        initialWindowSize: options.initialWindowSize,
        maxConcurrentStreams: options.maxConcurrentStreams,
      },
      maxSessionMemory: 64,
    });
    this.server.on("session", (session: http2.ServerHttp2Session) => {
      const socket = this.accepting ?? session.socket;
      const conn = new NodeServerConnection(session, socket, handlers);
      this.sessions.add(session);
      this.dead.add(conn);
      // node ends the socket after a graceful close and waits for the client's FIN, which may never come.
      destroyAfterFin(socket);
      trace("connection open", { id: conn.id, peer: `${conn.remoteAddress}:${conn.remotePort}` });
      session.on("error", (err: Error) => trace("session error", { id: conn.id, err: err.message }));
      session.on("close", () => {
        this.sessions.delete(session);
        this.dead.remove(conn);
        conn.closed();
        trace("connection closed", { id: conn.id });
        handlers.onConnectionClose(conn);
      });
      // Widen the connection window so many streams can flow at once; streams stay bounded
      // by their own window.
      session.setLocalWindowSize(options.initialWindowSize * 16);
      handlers.onConnection(conn);
      session.on("stream", (s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
        conn.streamOpened();
        handlers.onStream(new NodeServerStream(s, headers, conn), conn);
      });
      if (handlers.onPing !== undefined) session.on("ping", () => handlers.onPing!(conn));
    });
    this.server.on("sessionError", (err: Error) => trace("session error", { err: err.message }));
  }

  /** Hands over an accepted socket whose first bytes were put back with unshift(). */
  accept(socket: Socket): void {
    // node makes the session (and emits 'session') within this call.
    this.accepting = socket;
    try {
      this.server.emit("connection", socket);
    } finally {
      this.accepting = undefined;
    }
  }

  /** GOAWAY to every connection; in-flight streams finish. */
  drainAll(): void {
    for (const s of this.sessions) if (!s.closed) s.close();
  }

  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
  }
}
