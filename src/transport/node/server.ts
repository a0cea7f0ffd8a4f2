// Downstream HTTP/2 (h2c) server on node:http2. Sockets come from the proxy's listener,
// which has already checked for the HTTP/2 preface.
import http2 from "node:http2";
import type { Socket } from "node:net";
import { tracer } from "../../core/trace.js";
import { normalizeAddress } from "../address.js";
import type { ServerConnection, ServerHandlers, ServerTransport, ServerTransportOptions } from "../types.js";
import { NodeServerStream } from "./server-stream.js";

const trace = tracer("transport");

let nextConnectionId = 1;

class NodeServerConnection implements ServerConnection {
  readonly id = nextConnectionId++;
  readonly remoteAddress: string;
  readonly remotePort: number;

  constructor(private readonly session: http2.ServerHttp2Session, socket: Socket) {
    this.remoteAddress = normalizeAddress(socket.remoteAddress ?? "");
    this.remotePort = socket.remotePort ?? 0;
  }

  drain(): void {
    if (this.session.closed || this.session.destroyed) return;
    // node sends GOAWAY with the last stream id it processed and lets streams finish.
    this.session.close();
  }

  destroy(): void {
    this.session.destroy();
  }
}

export class NodeH2Server implements ServerTransport {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();

  constructor(options: ServerTransportOptions, handlers: ServerHandlers) {
    this.server = http2.createServer({
      settings: {
        initialWindowSize: options.initialWindowSize,
        maxConcurrentStreams: options.maxConcurrentStreams,
      },
      maxSessionMemory: 64,
    });
    this.server.on("session", (session: http2.ServerHttp2Session) => {
      const socket = session.socket;
      const conn = new NodeServerConnection(session, socket);
      this.sessions.add(session);
      trace("connection open", { id: conn.id, peer: `${conn.remoteAddress}:${conn.remotePort}` });
      session.on("error", (err: Error) => trace("session error", { id: conn.id, err: err.message }));
      session.on("close", () => {
        this.sessions.delete(session);
        trace("connection closed", { id: conn.id });
        handlers.onConnectionClose(conn);
      });
      // Widen the connection window so many streams can flow at once; streams stay bounded
      // by their own window.
      session.setLocalWindowSize(options.initialWindowSize * 16);
      handlers.onConnection(conn);
      session.on("stream", (s: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
        handlers.onStream(new NodeServerStream(s, headers), conn);
      });
    });
    this.server.on("sessionError", (err: Error) => trace("session error", { err: err.message }));
  }

  /** Hands over an accepted socket whose first bytes were put back with unshift(). */
  accept(socket: Socket): void {
    this.server.emit("connection", socket);
  }

  /** GOAWAY to every connection; in-flight streams finish. */
  drainAll(): void {
    for (const s of this.sessions) if (!s.closed) s.close();
  }

  destroyAll(): void {
    for (const s of this.sessions) s.destroy();
  }

}
