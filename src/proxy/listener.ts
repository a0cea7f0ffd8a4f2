// The downstream TCP listener. It reads a connection's first bytes: the HTTP/2 preface goes
// to the HTTP/2 server; an HTTP/1.x request gets a clear HTTP error and is closed, so a
// misdirected client learns what is wrong instead of seeing a dropped socket; other bytes get
// HTTP/2's answer to a bad preface, GOAWAY PROTOCOL_ERROR.
import net from "node:net";
import type tls from "node:tls";
import { tracer } from "../core/trace.js";
import { destroyAfterFin } from "../transport/close-after-fin.js";
import { FrameWriter } from "../transport/h2/frames/writer.js";
import { H2Code } from "../transport/types.js";
import { ServerTls, type ServerTlsMaterial } from "../transport/tls/server-tls.js";

const trace = tracer("listener");

/** How long a new connection has to send the HTTP/2 preface (or anything that is not it). */
export const PREFACE_TIMEOUT_MS = 10_000;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

const HTTP1_BODY = "sluice speaks gRPC over HTTP/2 (h2c, prior knowledge) on this port; this request was HTTP/1.x.\n";
const HTTP1_RESPONSE =
  "HTTP/1.1 505 HTTP Version Not Supported\r\n" +
  "content-type: text/plain; charset=utf-8\r\n" +
  `content-length: ${Buffer.byteLength(HTTP1_BODY)}\r\n` +
  "connection: close\r\n\r\n" +
  HTTP1_BODY;

/** How an HTTP/1.x request starts: a method and a space. */
const HTTP1_REQUEST_LINE = /^(GET|HEAD|POST|PUT|DELETE|CONNECT|OPTIONS|TRACE|PATCH) /;
/** Octets enough to tell an HTTP/1.x request line from other bytes. */
const HTTP1_SNIFF = 8;

/** A connection error for a client preface that is neither HTTP/2's nor HTTP/1.x (RFC 9113 3.4): GOAWAY PROTOCOL_ERROR. */
function badPrefaceGoaway(): Buffer {
  const w = new FrameWriter();
  w.goaway(0, H2Code.PROTOCOL_ERROR, Buffer.from("invalid connection preface", "latin1"));
  const out = w.take();
  return Array.isArray(out) ? Buffer.concat(out) : out;
}

function onSocketError(err: Error): void {
  trace("socket error", { err: err.message });
}

export class Listener {
  private readonly server: net.Server;
  /** TLS on this listener; undefined: plaintext (h2c with prior knowledge). */
  readonly tls: ServerTls | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** Envoy's downstream_cx_overflow: connections closed as they arrived, maxConnections being open. */
  overflows = 0;

  constructor(
    onHttp2: (socket: net.Socket) => void,
    private readonly prefaceTimeoutMs = PREFACE_TIMEOUT_MS,
    /** Client connections open at once (downstream.maxConnections); one more is closed at once. */
    maxConnections = Infinity,
    /** Certificates and client CA: the listener serves TLS only. */
    tlsMaterial?: ServerTlsMaterial,
  ) {
    const sockets = this.sockets;
    // The handshake and the preface share the preface timeout, counted from the TCP accept.
    const tlsServer = tlsMaterial === undefined ? undefined : new ServerTls(tlsMaterial, prefaceTimeoutMs, (socket) => this.onSecure(socket, onHttp2));
    this.tls = tlsServer;
    // Listeners shared by all sockets: no closures kept per connection.
    function onClose(this: net.Socket): void {
      sockets.delete(this);
    }
    this.server = net.createServer({ noDelay: true }, (socket) => {
      if (sockets.size >= maxConnections) {
        this.overflows++;
        trace("connection refused: maxConnections", { peer: socket.remoteAddress, open: sockets.size });
        socket.on("error", onSocketError);
        socket.destroy();
        return;
      }
      sockets.add(socket);
      socket.on("close", onClose);
      socket.on("error", onSocketError);
      if (tlsServer === undefined) this.sniff(socket, onHttp2);
      else tlsServer.accept(socket);
    });
  }

  /** A TLS handshake completed: h2 agreed by ALPN, then the preface as on a plaintext port. */
  private onSecure(socket: tls.TLSSocket, onHttp2: (socket: net.Socket) => void): void {
    socket.on("error", onSocketError);
    if (socket.alpnProtocol !== "h2") {
      // A client that offered no ALPN (one that offered others got the no_application_protocol alert).
      trace("TLS without ALPN h2: closed", { peer: socket.remoteAddress });
      socket.destroy();
      return;
    }
    this.sniff(socket, onHttp2);
  }

  /**
   * Reads until the bytes either are the whole HTTP/2 preface or stop matching it; a client
   * that sends nothing decisive within prefaceTimeoutMs is disconnected (a slowloris
   * trickling the preface included: the time counts from the connection's start).
   */
  private sniff(socket: net.Socket, onHttp2: (socket: net.Socket) => void): void {
    let seen: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      trace("no preface in time", { peer: socket.remoteAddress });
      socket.destroy();
    }, this.prefaceTimeoutMs);
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const matches = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (matches && n < PREFACE.length) return; // not decided yet
      // Not HTTP/2: an HTTP/1.x request line gets an HTTP answer, once enough of it is here.
      if (!matches && seen.length < HTTP1_SNIFF && !seen.includes(0x20)) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onClose);
      if (matches) {
        socket.pause();
        socket.unshift(seen);
        onHttp2(socket);
        return;
      }
      const http1 = HTTP1_REQUEST_LINE.test(seen.toString("latin1", 0, 16));
      trace("not HTTP/2", { peer: socket.remoteAddress, http1 });
      socket.end(http1 ? HTTP1_RESPONSE : badPrefaceGoaway());
      destroyAfterFin(socket); // a client that never closes its side must not keep the socket
    };
    const onClose = (): void => clearTimeout(timer);
    socket.on("data", onData);
    socket.on("close", onClose);
  }

  listen(host: string, port: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once("error", onError);
      this.server.listen(port, host, () => {
        this.server.off("error", onError);
        const addr = this.server.address() as net.AddressInfo;
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  /**
   * Accepts on a listening socket inherited as file descriptor `fd` (from the process this one
   * takes over from, or from a supervisor such as systemd).
   */
  listenFd(fd: number): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once("error", onError);
      this.server.listen({ fd }, () => {
        this.server.off("error", onError);
        const addr = this.server.address() as net.AddressInfo;
        resolve({ host: addr.address, port: addr.port });
      });
    });
  }

  /**
   * The listening socket's file descriptor, or undefined before listen(). Node 20 has no public
   * accessor: `_handle.fd` is libuv's descriptor (Unix), what spawn's stdio can pass on.
   */
  fd(): number | undefined {
    const handle = (this.server as unknown as { _handle?: { fd?: unknown } | null })._handle;
    return typeof handle?.fd === "number" && handle.fd >= 0 ? handle.fd : undefined;
  }

  /** Stops accepting; existing connections are left to their owners. */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}
