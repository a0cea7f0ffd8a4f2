// Upstream HTTP/2 connections on node:http2.
import http2 from "node:http2";
import net from "node:net";
import { tracer } from "../../core/trace.js";
import { destroyAfterFin } from "../close-after-fin.js";
import { ConnectTimeoutError } from "../errors.js";
import type { ClientConnection, ClientConnectionListener, ClientTransport, ConnectTarget, Headers, Stream, StreamListener } from "../types.js";
import { connectTls, upstreamTlsFailure } from "../tls/client-tls.js";
import { RefusedStream } from "../refused-stream.js";
import { NodeClientStream } from "./client-stream.js";
import { SessionPings } from "./ping.js";

const NO_END_STREAM = { endStream: false } as const;

const trace = tracer("transport");

export interface NodeClientOptions {
  readonly initialWindowSize: number;
}

class NodeClientConnection implements ClientConnection {
  private readonly session: http2.ClientHttp2Session;
  private closed = false;
  private connectTimer: NodeJS.Timeout | undefined;
  private pings: SessionPings | undefined;
  /** Streams reset by us (NodeClientStream counts them here). */
  resetsSent = 0;
  private readonly socket: net.Socket;

  constructor(
    target: ConnectTarget,
    options: NodeClientOptions,
    private readonly listener: ClientConnectionListener,
  ) {
    const host = target.host.includes(":") ? `[${target.host}]` : target.host;
    // Our own socket (session.socket is a proxy that refuses destroy()): node ends it after a
    // GOAWAY once the streams are done, and then waits for the peer's FIN, which a node:http2
    // backend never sends.
    const socket =
      target.tls === undefined ? net.connect({ host: target.host, port: target.port, noDelay: true }) : connectTls(target.host, target.port, target.tls);
    this.socket = socket;
    destroyAfterFin(socket);
    this.session = http2.connect(`${target.tls === undefined ? "http" : "https"}://${host}:${target.port}`, {
      settings: { initialWindowSize: options.initialWindowSize, enablePush: false },
      maxSessionMemory: 64,
      createConnection: () => socket,
    });
    const session = this.session;
    this.connectTimer = setTimeout(() => {
      this.fail(new ConnectTimeoutError(`connect timeout after ${target.connectTimeoutMs}ms`));
    }, target.connectTimeoutMs);
    this.connectTimer.unref();
    session.once("remoteSettings", () => {
      if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
      this.connectTimer = undefined;
      session.setLocalWindowSize(options.initialWindowSize * 16);
      listener.onReady();
    });
    session.on("goaway", (code: number) => {
      trace("goaway received", { target: `${target.host}:${target.port}`, code });
      listener.onGoaway(code);
    });
    session.on("error", (err: Error) => this.fail(err));
    // A TLS alert after the handshake (a backend refusing our client certificate under TLS
    // 1.3) errors the socket, and the session notices only at the connect timeout.
    if (target.tls !== undefined) socket.once("error", (err: Error) => this.fail(err));
    session.on("close", () => this.fail(undefined));
  }

  private fail(error: Error | undefined): void {
    error = upstreamTlsFailure(this.socket) ?? error;
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    if (this.closed) return;
    this.closed = true;
    if (!this.session.destroyed) this.session.destroy();
    this.pings?.closeAll();
    this.listener.onClose(error);
  }

  get peerMaxConcurrentStreams(): number {
    const v = this.session.remoteSettings?.maxConcurrentStreams;
    return v === undefined || v >= 0xffffffff ? Infinity : v;
  }

  get usable(): boolean {
    const s = this.session;
    return !this.closed && !s.closed && !s.destroyed;
  }

  open(headers: Headers, listener: StreamListener): Stream {
    if (!this.usable) return new RefusedStream(listener, "upstream connection closing");
    try {
      return new NodeClientStream(this.session.request(headers, NO_END_STREAM), listener, this);
    } catch (err) {
      // node throws when the session died in this very turn; the RPC sees a refused stream.
      return new RefusedStream(listener, `upstream connection unusable: ${(err as Error).message}`);
    }
  }

  drain(): void {
    if (!this.session.closed) this.session.close();
  }

  ping(onAck: (ok: boolean) => void, timeoutMs: number): void {
    if (this.closed) {
      queueMicrotask(() => onAck(false));
      return;
    }
    this.pings ??= new SessionPings(this.session);
    this.pings.ping(onAck, timeoutMs);
  }

  destroy(): void {
    this.fail(undefined);
  }
}

export class NodeClientTransport implements ClientTransport {
  constructor(private readonly options: NodeClientOptions) {}

  connect(target: ConnectTarget, listener: ClientConnectionListener): ClientConnection {
    return new NodeClientConnection(target, this.options, listener);
  }
}
