// sluice's own HTTP/2 client role: connections from the proxy to backends.
import net from "node:net";
import { InternalError } from "../../core/errors.js";
import { tracer } from "../../core/trace.js";
import { ConnectTimeoutError } from "../errors.js";
import { RefusedStream } from "../refused-stream.js";
import {
  H2Code,
  type ClientConnection,
  type ClientConnectionListener,
  type ClientTransport,
  type ConnectTarget,
  type Headers,
  type Stream,
  type StreamListener,
} from "../types.js";
import { H2Connection, DEFAULT_CONNECTION_OPTIONS, directReadOptions, type H2ConnectionOptions } from "./connection.js";
import { Limit, SettingId } from "./frames/constants.js";
import { H2Stream, StreamState } from "./stream.js";
import { connectTls, upstreamTlsFailure } from "../tls/client-tls.js";

const trace = tracer("h2");

export type H2Target = ConnectTarget;

export class H2ClientConnection extends H2Connection implements ClientConnection {
  private connectTimer: NodeJS.Timeout | undefined;
  private readonly target: string;

  constructor(
    target: H2Target,
    options: H2ConnectionOptions,
    private readonly listener: ClientConnectionListener,
  ) {
    // TLS: the socket reads through node's TLS layer ('data' events); plaintext reads directly.
    const tls = target.tls;
    const socket =
      tls === undefined
        ? net.connect({ host: target.host, port: target.port, noDelay: true, onread: directReadOptions() })
        : connectTls(target.host, target.port, tls);
    super(socket, options, "client", tls === undefined);
    this.target = `${target.host}:${target.port}`;
    this.connectTimer = setTimeout(() => {
      this.connectTimer = undefined;
      this.socket.destroy(new ConnectTimeoutError(`connect timeout after ${target.connectTimeoutMs}ms`));
    }, target.connectTimeoutMs);
    this.connectTimer.unref();
    // Written now, sent once connected: the magic, our SETTINGS, the connection window.
    this.writer.preface();
    this.sendPreface([
      [SettingId.ENABLE_PUSH, 0],
      [SettingId.INITIAL_WINDOW_SIZE, options.initialWindowSize],
      [SettingId.MAX_HEADER_LIST_SIZE, options.maxHeaderListSize],
    ]);
  }

  get peerMaxConcurrentStreams(): number {
    const v = this.peerMaxConcurrent;
    return v >= 0xffffffff ? Infinity : v;
  }

  get usable(): boolean {
    return this.isOpen && this.nextStreamId <= Limit.MAX_STREAM_ID;
  }

  open(headers: Headers, listener: StreamListener): Stream {
    if (!this.usable) return new RefusedStream(listener, "upstream connection closing");
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const s = new H2Stream(this, id, StreamState.OPEN, this.peerInitialWindow, this.options.initialWindowSize);
    s.listener = listener;
    this.streams.set(id, s);
    s.sendHeaders(headers, false);
    // Stream ids are spent: the last one drains the connection so the pool opens another.
    if (this.nextStreamId > Limit.MAX_STREAM_ID) this.drain();
    return s;
  }

  protected createPeerStream(): H2Stream {
    throw new InternalError("a client connection accepts no streams"); // unreachable: onHeaders checks the role
  }

  protected onPeerStream(): void {
    // Unreachable, as above.
  }

  protected onPeerSettings(): void {
    this.clearConnectTimer();
    trace("connection ready", { conn: this.connectionId, target: this.target });
    this.listener.onReady();
  }

  protected onPeerGoaway(code: number): void {
    trace("goaway received", { target: this.target, code });
    this.listener.onGoaway(code);
  }

  protected onClosed(error: Error | undefined): void {
    this.clearConnectTimer();
    error = upstreamTlsFailure(this.socket) ?? error;
    trace("connection closed", { conn: this.connectionId, target: this.target, err: error?.message });
    this.listener.onClose(error);
  }

  protected resetReason(code: number): string {
    return code === H2Code.NO_ERROR ? "upstream closed the stream" : "upstream reset";
  }

  private clearConnectTimer(): void {
    if (this.connectTimer !== undefined) clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
  }
}

export class H2ClientTransport implements ClientTransport {
  private readonly options: H2ConnectionOptions;

  /** `tuning` overrides connection defaults (tests shorten timeouts with it). */
  constructor(options: { initialWindowSize: number }, tuning: Partial<H2ConnectionOptions> = {}) {
    this.options = {
      ...DEFAULT_CONNECTION_OPTIONS,
      ...tuning,
      initialWindowSize: options.initialWindowSize,
      connectionWindowSize: Math.max(DEFAULT_CONNECTION_OPTIONS.connectionWindowSize, options.initialWindowSize * 16),
    };
  }

  connect(target: H2Target, listener: ClientConnectionListener): ClientConnection {
    return new H2ClientConnection(target, this.options, listener);
  }
}
