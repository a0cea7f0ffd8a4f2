// The HTTP/2 transport seen by the rest of sluice: open a stream; send headers, data,
// trailers; reset; events back. Routing, balancing, pooling, deadlines and status mapping
// depend on this interface only, so a frame-level transport can replace node:http2
// without touching them.
import type { UpstreamTlsContext } from "./tls/client-tls.js";
import type { Socket } from "node:net";

/** Which HTTP/2 implementation carries the traffic: sluice's own frame-level one, or node:http2. */
export type TransportKind = "h2" | "node";

/** Header block: lower-case names; repeated fields as arrays (node:http2's shape). */
export type Headers = Record<string, string | string[] | undefined>;

/** RFC 9113 section 7 error codes. */
export const H2Code = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  FLOW_CONTROL_ERROR: 3,
  SETTINGS_TIMEOUT: 4,
  STREAM_CLOSED: 5,
  FRAME_SIZE_ERROR: 6,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  COMPRESSION_ERROR: 9,
  CONNECT_ERROR: 10,
  ENHANCE_YOUR_CALM: 11,
  INADEQUATE_SECURITY: 12,
  HTTP_1_1_REQUIRED: 13,
} as const;

export function h2CodeName(code: number): string {
  for (const [name, value] of Object.entries(H2Code)) if (value === code) return name;
  return `0x${code.toString(16)}`;
}

/** Events from one stream. Exactly one of onEnd / onReset ends it. */
export interface StreamListener {
  /** Response headers (client role only); endStream = trailers-only response. */
  onHeaders(headers: Headers, endStream: boolean): void;
  onData(chunk: Buffer): void;
  /** Trailing headers, after all data: the peer finished its side (no onEnd follows). */
  onTrailers(trailers: Headers): void;
  /** The peer finished its side cleanly without trailers. */
  onEnd(): void;
  /**
   * The stream died: the peer reset it (`connectionLost` false), or the connection under
   * it went away (`connectionLost` true, whatever code node reports).
   */
  onReset(code: number, reason: string, connectionLost: boolean): void;
  /** write() returned false earlier and the stream can take more now. */
  onDrain(): void;
}

export interface Stream {
  /** False when the caller should wait for onDrain before writing more. */
  write(chunk: Buffer): boolean;
  /** Ends our side: END_STREAM on the request, or trailers on a response. */
  end(trailers?: Headers): void;
  reset(code: number): void;
  /** Stop/start delivering onData (and so stop/start granting the peer window). */
  pause(): void;
  resume(): void;
}

export interface ServerStream extends Stream {
  readonly headers: Headers;
  /** Starts delivering events; until then incoming data is held by flow control. */
  attach(listener: StreamListener): void;
  respond(headers: Headers, endStream: boolean): void;
  /** A complete non-gRPC response (an HTTP error with a text body). */
  respondPlain(status: number, body: string): void;
  readonly responded: boolean;
  readonly closed: boolean;
}

export interface ConnectionInfo {
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly id: number;
}

/** The downstream (server) side of one client connection. */
export interface ServerConnection extends ConnectionInfo {
  /** Request streams not yet closed both ways (nor reset): the RPCs in flight. */
  readonly activeStreams: number;
  /**
   * How many HEADERS and DATA we have sent on this connection (h2: frames; node: response,
   * write and trailer calls). Only its changes mean anything: keepalive enforcement forgives
   * a client's ping strikes once it moved, as grpc-go does.
   */
  readonly headersOrDataSent: number;
  /** Graceful drain: GOAWAY, in-flight streams finish, then the connection closes. */
  drain(): void;
  /**
   * GOAWAY with `code` and `debug` (latin1, cut to 256 octets) as debug data, then close:
   * streams still open are reset. For a misbehaving client (ENHANCE_YOUR_CALM "too_many_pings").
   */
  goaway(code: number, debug: string): void;
  /**
   * Sends a PING and reports once: `onAck(true)` when its ACK arrives, `onAck(false)` when
   * none came within `timeoutMs` or the connection closed first. Never calls back from inside
   * the call itself. Works while the connection drains (after GOAWAY) too.
   */
  ping(onAck: (ok: boolean) => void, timeoutMs: number): void;
  /** Closes at once (for a peer taken as gone): open streams reset, the socket destroyed. */
  destroy(): void;
}

export interface ClientConnectionListener {
  /** The peer's first SETTINGS arrived: the connection is usable. */
  onReady(): void;
  /** The peer sent GOAWAY: no new streams; in-flight ones up to lastStreamId go on. */
  onGoaway(code: number): void;
  /** Closed (after error or drain). `error` is set when it failed. */
  onClose(error: Error | undefined): void;
}

/** The upstream (client) side of one connection to a backend. */
export interface ClientConnection {
  /** Peer's SETTINGS_MAX_CONCURRENT_STREAMS (Infinity until known). */
  readonly peerMaxConcurrentStreams: number;
  /** False once the connection is closing or closed: open() would only be refused. */
  readonly usable: boolean;
  /** Never throws: on a dead connection the stream is reset (REFUSED_STREAM) asynchronously. */
  open(headers: Headers, listener: StreamListener): Stream;
  /**
   * Streams this side reset on the connection (RST_STREAM sent). Servers built on nghttp2
   * (node:http2, so grpc-js) end a connection on which a client reset too many: the pool
   * moves to a new connection before that happens.
   */
  readonly resetsSent: number;
  /** Graceful: no new streams, close when in-flight ones end. */
  drain(): void;
  /** Keepalive: as ServerConnection.ping. */
  ping(onAck: (ok: boolean) => void, timeoutMs: number): void;
  destroy(): void;
}

/** Where a client connection goes, and how. */
export interface ConnectTarget {
  readonly host: string;
  readonly port: number;
  /** For the TCP connect, the TLS handshake (when tls is set) and the peer's first SETTINGS. */
  readonly connectTimeoutMs: number;
  /** TLS to the peer; absent: plaintext (h2c). */
  readonly tls?: UpstreamTlsContext;
}

export interface ClientTransport {
  connect(target: ConnectTarget, listener: ClientConnectionListener): ClientConnection;
}

/** What a server transport tells its owner (the proxy). */
export interface ServerHandlers {
  onConnection(conn: ServerConnection): void;
  onStream(stream: ServerStream, conn: ServerConnection): void;
  /**
   * A request stream closed (both ways, or reset); `conn.activeStreams` already counts it
   * out. Not called for the streams a closing connection takes with it.
   */
  onStreamClose?(conn: ServerConnection): void;
  /** The client sent a PING (not an ACK), already answered: for keepalive enforcement (gRFC A8). */
  onPing?(conn: ServerConnection): void;
  onConnectionClose(conn: ServerConnection): void;
}

export interface ServerTransportOptions {
  /** Per-stream receive window we advertise; bounds per-stream buffering. */
  readonly initialWindowSize: number;
  readonly maxConcurrentStreams: number;
  /**
   * h2 transport: how long a frame may take to arrive once begun (slowloris); default in
   * h2/connection.ts. node:http2 exposes no partial frames, so the node transport has none.
   */
  readonly frameReadTimeoutMs?: number;
}

/** The downstream HTTP/2 server: takes sockets the listener has sniffed as HTTP/2. */
export interface ServerTransport {
  /** Hands over an accepted socket, paused, whose first bytes were put back with unshift(). */
  accept(socket: Socket): void;
  /** GOAWAY to every connection; in-flight streams finish. */
  drainAll(): void;
  destroyAll(): void;
}
