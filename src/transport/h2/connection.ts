// One HTTP/2 connection over a duplex socket, either role: SETTINGS exchange, the
// connection-level flow-control windows, PING (answered, and sent for keepalive), GOAWAY and
// graceful close, stream
// bookkeeping, the checks RFC 9113 puts on every frame, and the limits that keep a hostile
// peer from costing more than it gives (rapid reset, empty-frame and ACK floods; the frame
// reader caps frame and header block sizes). Frames are appended to one FrameWriter and
// written once per event-loop turn (flush.ts).
import type { OnReadOpts } from "node:net";
import type { Duplex } from "node:stream";
import { logger, tracer } from "../../core/trace.js";
import { destroyAfterFin, FIN_LINGER_MS } from "../close-after-fin.js";
import { Http2ConnectionError } from "../errors.js";
import { H2Code, h2CodeName, type Headers } from "../types.js";
import { scheduleFlush, type Flushable } from "./flush.js";
import { Limit, SettingDefault, SettingId } from "./frames/constants.js";
import type { ConnectionError, StreamError } from "./frames/errors.js";
import type { FrameHandler } from "./frames/handler.js";
import { ClosedBy, ClosedStreams } from "./closed-streams.js";
import { TokenBucket } from "../../core/token-bucket.js";
import { FrameReader } from "./frames/reader.js";
import { settingId, settingsCount, settingValue } from "./frames/settings.js";
import { FrameWriter } from "./frames/writer.js";
import { BlockKind, encodeHeaders, HeaderDecoder } from "./header-codec.js";
import { HpackDecoder, HpackEncoder, HpackError } from "./hpack/index.js";
import type { H2Stream, StreamHost } from "./stream.js";
import { StreamTable } from "./stream-table.js";

const trace = tracer("h2");

export interface H2ConnectionOptions {
  /** SETTINGS_INITIAL_WINDOW_SIZE we advertise: each stream's receive window. */
  readonly initialWindowSize: number;
  /** Our connection-level receive window (raised from 65,535 by a WINDOW_UPDATE at start). */
  readonly connectionWindowSize: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise (server role). */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce while decoding. */
  readonly maxHeaderListSize: number;
  /** How long the peer has to acknowledge our SETTINGS (SETTINGS_TIMEOUT after). */
  readonly settingsTimeoutMs: number;
  /**
   * How long output may wait on a peer that grants no window or reads nothing from the
   * socket before we give up on it (ENHANCE_YOUR_CALM): a stalled stream is reset, a
   * stalled connection closed. Until then its buffers are bounded by backpressure.
   */
  readonly sendStallTimeoutMs: number;
  /**
   * How long one frame (or one HEADERS + CONTINUATION block, or the preface) may take to
   * arrive once its first octet has: a slowloris peer that trickles a request a byte at a
   * time is closed (ENHANCE_YOUR_CALM) after it, at most twice it. Idle connections, with
   * nothing half-sent, are not affected.
   */
  readonly frameReadTimeoutMs: number;
}

export const DEFAULT_CONNECTION_OPTIONS: H2ConnectionOptions = {
  initialWindowSize: 1 << 20,
  connectionWindowSize: 16 << 20,
  maxConcurrentStreams: 1000,
  maxHeaderListSize: 64 * 1024,
  settingsTimeoutMs: 10_000,
  sendStallTimeoutMs: 60_000,
  frameReadTimeoutMs: 30_000,
};

/** Connection phases: OPEN takes new streams; DRAINING lets existing ones finish. */
const OPEN = 0;
const DRAINING = 1;
const CLOSED = 2;
type Phase = typeof OPEN | typeof DRAINING | typeof CLOSED;
const PHASE_NAMES = ["open", "draining", "closed"];

/** Socket bytes buffered above which streams tell their writers to wait. */
const SOCKET_HIGH_WATER = 256 * 1024;
/** ACKs (SETTINGS, PING) queued toward a peer that is not reading them: a flood. */
const MAX_ACK_BACKLOG = 10_000;
/** Empty DATA frames in a row without END_STREAM: they cost us work and the peer nothing. */
const MAX_EMPTY_DATA_RUN = 100;
/** Rapid reset (CVE-2023-44487): streams the peer cancelled before we finished them. */
const PREMATURE_RESET_MIN = 100;
/** ...once they are at least this share of the streams it opened. */
const PREMATURE_RESET_RATIO = 0.5;
/**
 * Whatever the share (a flood padded with cheap requests keeps it low): resets a connection
 * may cause, a burst, then so many a second. A client cancelling a few hundred RPCs a second
 * on one connection stays inside it.
 */
const RESET_BURST = 1000;
const RESET_PER_SECOND = 200;
/**
 * Frames that cost work and change nothing (after Envoy's limits): PRIORITY, frames of unknown
 * type and RST_STREAM on a closed stream, at most 100 per stream opened (plus 100) in all;
 * WINDOW_UPDATE, at most 5 + 2 x (streams opened + 10 per HEADERS or DATA frame we sent).
 */
const IGNORED_PER_STREAM = 100;
const WINDOW_UPDATES_PER_FRAME_SENT = 10;
/**
 * SETTINGS a peer may send: a burst, then a few a second. Peers send one at the start and
 * seldom another (grpc-go raises its window by SETTINGS as its BDP estimate grows, a handful
 * of times); each costs an ACK and may move every stream's window.
 */
const SETTINGS_BURST = 100;
const SETTINGS_PER_SECOND = 10;
/** After a connection error, how long the peer gets to read our GOAWAY. */
const CLOSE_LINGER_MS = 2000;
const MAX_DEBUG_DATA = 256;

/** A PING we sent and await the ACK of; its payload is the 8-octet big-endian `seq`. */
interface PendingPing {
  readonly seq: number;
  readonly onAck: (ok: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

let nextConnectionId = 1;

export abstract class H2Connection implements FrameHandler, StreamHost, Flushable {
  readonly connectionId = nextConnectionId++;
  flushQueued = false;
  readonly isServer: boolean;
  /** "upstream" (client role) or "downstream" (server role), for messages. */
  private readonly side: string;
  protected readonly reader: FrameReader;
  protected readonly writer = new FrameWriter();
  protected readonly encoder = new HpackEncoder();
  private readonly decoder: HeaderDecoder;
  readonly streams = new StreamTable<H2Stream>();
  protected phase: Phase = OPEN;

  // Flow control (section 6.9): connection level here, stream level on each stream.
  sendWindow: number = SettingDefault.INITIAL_WINDOW_SIZE;
  private recvWindow: number = SettingDefault.INITIAL_WINDOW_SIZE;
  private recvUnacked = 0;
  peerInitialWindow: number = SettingDefault.INITIAL_WINDOW_SIZE;
  /** peerInitialWindow less its first value: what every stream's window has moved by (see H2Stream.sendCredit). */
  initialWindowShift = 0;
  /** At least the largest sendCredit a WINDOW_UPDATE gave a stream: below the limit, a SETTINGS change need not look at any stream. */
  private maxSendCredit: number = SettingDefault.INITIAL_WINDOW_SIZE;
  protected peerMaxConcurrent: number = SettingDefault.MAX_CONCURRENT_STREAMS;
  private peerSettingsSeen = false;
  private settingsTimer: NodeJS.Timeout | undefined;

  socketBlocked = false;
  // These three stay the shared empty NONE until first needed: most connections never wait.
  private pendingSend: Set<H2Stream> = NONE;
  private drainWaiters: Set<H2Stream> = NONE;
  private endAfterFlush = false;
  /** Armed while output waits on the peer; lastSendProgress says when it last moved. */
  private stallTimer: NodeJS.Timeout | undefined;
  private lastSendProgress = 0;
  /** Armed while input stops mid-frame; readMark is reader.completedUnits when armed. */
  private readTimer: NodeJS.Timeout | undefined;
  private readMark = 0;

  /** Highest stream id the peer opened; our GOAWAY's last-stream-id. */
  protected lastPeerStreamId = 0;
  /** Next stream id we open (client role). */
  protected nextStreamId = 1;
  /** The peer's GOAWAY last-stream-id, -1 until one arrives. */
  protected peerGoawayLast = -1;

  /** Streams closed lately, and how: what a late frame on one of them means. */
  private readonly closedStreams = new ClosedStreams();

  /** Our PINGs awaiting their ACK (keepalive: rarely more than one). */
  private pings: PendingPing[] = NONE_PINGS;
  private nextPingSeq = 1;
  /** HEADERS and DATA frames written: see ServerConnection.headersOrDataSent. */
  headersOrDataSent = 0;

  // Abuse accounting.
  private ackBacklog = 0;
  private emptyDataRun = 0;
  private streamsOpenedByPeer = 0;
  /** RST_STREAM frames sent (ClientConnection.resetsSent for the client role). */
  resetsSent = 0;
  private prematureResets = 0;
  private readonly resetBudget = new TokenBucket(RESET_BURST, RESET_PER_SECOND, performance.now());
  private ignoredFrames = 0;
  private windowUpdates = 0;
  private readonly settingsBudget = new TokenBucket(SETTINGS_BURST, SETTINGS_PER_SECOND, performance.now());

  /**
   * `directReads`: the socket was made with directReadOptions() (net.Socket's `onread`), so
   * its reads arrive in one reused buffer without 'data' events.
   */
  protected constructor(
    protected readonly socket: Duplex,
    protected readonly options: H2ConnectionOptions,
    role: "client" | "server",
    directReads = false,
  ) {
    this.isServer = role === "server";
    this.side = this.isServer ? "downstream" : "upstream";
    this.nextStreamId = this.isServer ? 2 : 1;
    this.reader = new FrameReader(this, { role, reusedInput: directReads });
    this.decoder = new HeaderDecoder(new HpackDecoder({ maxHeaderListSize: options.maxHeaderListSize }));
    // Listeners shared by all connections (no closures per connection): the socket leads back here.
    (socket as OwnedSocket)[OWNER] = this;
    if (!directReads) socket.on("data", onSocketData);
    socket.on("drain", onSocketDrain);
    socket.on("error", onSocketError);
    socket.on("close", onSocketClose);
  }

  /** Our SETTINGS (after the client magic, which the client role writes first) and window. */
  protected sendPreface(settings: ReadonlyArray<readonly [number, number]>): void {
    this.writer.settings(settings);
    const extra = this.options.connectionWindowSize - SettingDefault.INITIAL_WINDOW_SIZE;
    if (extra > 0) {
      this.writer.windowUpdate(0, extra);
      this.recvWindow += extra;
    }
    this.settingsTimer = setTimeout(() => this.connectionError(H2Code.SETTINGS_TIMEOUT, "SETTINGS not acknowledged in time"), this.options.settingsTimeoutMs);
    this.settingsTimer.unref();
    this.dirty();
  }

  get isOpen(): boolean {
    return this.phase === OPEN;
  }

  // --- hooks for the roles ---

  /** Server role: the object for a new request stream (client role never gets here: push is off). */
  protected abstract createPeerStream(id: number, headers: Headers): H2Stream;
  /** Server role: the new stream is registered, with any END_STREAM applied. */
  protected abstract onPeerStream(stream: H2Stream): void;
  /** The peer's first SETTINGS arrived. */
  protected abstract onPeerSettings(): void;
  protected abstract onPeerGoaway(code: number): void;
  /** The connection is gone; `error` set when it failed. */
  protected abstract onClosed(error: Error | undefined): void;
  /** Reason streams see when the peer resets them. */
  protected abstract resetReason(code: number): string;
  /** The peer sent a PING (already answered). */
  protected onPeerPing(): void {
    // Only the server role reports pings (to keepalive enforcement).
  }
  /** A stream left the table while the connection goes on. */
  protected onStreamClosed(): void {
    // Only the server role reports it (idle tracking).
  }

  // --- output ---

  dirty(): void {
    scheduleFlush(this);
  }

  flush(): void {
    if (this.phase === CLOSED) return;
    const out = this.writer.take();
    const socket = this.socket;
    let ok = true;
    if (Array.isArray(out)) {
      socket.cork();
      for (const b of out) ok = socket.write(b);
      socket.uncork();
    } else if (out.length > 0) {
      ok = socket.write(out);
    }
    if (ok) this.ackBacklog = 0;
    else if (socket.writableLength > SOCKET_HIGH_WATER && !this.socketBlocked) {
      this.socketBlocked = true;
      this.armStallTimer();
    }
    // An idle connection keeps no slab; written out, it serves the next connection to wake.
    if (this.streams.size === 0) this.writer.release(socket.writableLength === 0);
    if (this.endAfterFlush) {
      this.endAfterFlush = false;
      socket.end();
      // A peer that never closes its side (node:http2 after its GOAWAY) must not hold the socket.
      destroyAfterFin(socket, FIN_LINGER_MS, this.options.sendStallTimeoutMs);
    }
  }

  /** The socket closed under us. */
  onSocketClose(): void {
    this.terminate(undefined, H2Code.CANCEL, `${this.side} connection lost`);
  }

  onSocketDrain(): void {
    this.ackBacklog = 0;
    this.lastSendProgress = performance.now();
    if (!this.socketBlocked) return;
    this.socketBlocked = false;
    const waiters = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const s of waiters) s.drained();
  }

  writeData(stream: H2Stream, data: Buffer, endStream: boolean): void {
    this.headersOrDataSent++;
    this.writer.data(stream.id, data, endStream);
    stream.sendCredit -= data.length;
    this.sendWindow -= data.length;
    this.dirty();
  }

  writeHeaders(stream: H2Stream, headers: Headers, endStream: boolean): void {
    this.headersOrDataSent++;
    encodeHeaders(this.encoder, headers);
    this.writer.headersFrom(stream.id, this.encoder, endStream);
    this.dirty();
  }

  writeRst(streamId: number, code: number): void {
    if (this.phase === CLOSED) return;
    this.resetsSent++;
    this.writer.rstStream(streamId, code);
    this.dirty();
    this.closedStreams.add(streamId, ClosedBy.US_RESET);
  }

  waitForWindow(stream: H2Stream): void {
    if (this.pendingSend === NONE) this.pendingSend = new Set();
    this.pendingSend.add(stream);
    this.armStallTimer();
  }

  waitForDrain(stream: H2Stream): void {
    if (this.drainWaiters === NONE) this.drainWaiters = new Set();
    this.drainWaiters.add(stream);
  }

  consumed(stream: H2Stream, n: number): void {
    this.grantConnection(n);
    if (!stream.canReceive) return;
    stream.recvUnacked += n;
    if (stream.recvUnacked >= this.options.initialWindowSize >>> 1) {
      this.writer.windowUpdate(stream.id, stream.recvUnacked);
      stream.recvWindow += stream.recvUnacked;
      stream.recvUnacked = 0;
      this.dirty();
    }
  }

  private grantConnection(n: number): void {
    if (this.phase === CLOSED) return;
    this.recvUnacked += n;
    if (this.recvUnacked >= this.options.connectionWindowSize >>> 1) {
      this.writer.windowUpdate(0, this.recvUnacked);
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
      this.dirty();
    }
  }

  streamClosed(stream: H2Stream): void {
    this.streams.delete(stream.id);
    this.pendingSend.delete(stream);
    this.drainWaiters.delete(stream);
    if (this.phase === CLOSED) return; // terminate() is closing every stream: nothing to report
    this.closedStreams.add(stream.id, ClosedBy.ENDED);
    this.onStreamClosed();
    if (this.phase === DRAINING && this.streams.size === 0) this.closeGracefully();
  }

  /** Keepalive PING: see ServerConnection.ping. Our payloads are a per-connection sequence number. */
  ping(onAck: (ok: boolean) => void, timeoutMs: number): void {
    if (this.phase === CLOSED) {
      queueMicrotask(() => onAck(false));
      return;
    }
    const seq = this.nextPingSeq++;
    const timer = setTimeout(() => this.settlePing(seq, false), timeoutMs);
    timer.unref();
    if (this.pings === NONE_PINGS) this.pings = [];
    this.pings.push({ seq, onAck, timer });
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(Math.floor(seq / 0x1_0000_0000), 0);
    payload.writeUInt32BE(seq >>> 0, 4);
    this.writer.ping(payload, false);
    this.dirty();
  }

  /** Reports the PING `seq` (when still pending) and forgets it. */
  private settlePing(seq: number, ok: boolean): void {
    const i = this.pings.findIndex((p) => p.seq === seq);
    if (i < 0) return;
    const [p] = this.pings.splice(i, 1);
    clearTimeout(p!.timer);
    p!.onAck(ok);
  }

  // --- lifecycle ---

  /** GOAWAY NO_ERROR: no new streams; close once the ones in flight finish. */
  drain(): void {
    if (this.phase !== OPEN) return;
    this.setPhase(DRAINING, "drain");
    this.writer.goaway(this.isServer ? this.lastPeerStreamId : 0, H2Code.NO_ERROR);
    this.dirty();
    if (this.streams.size === 0) this.closeGracefully();
  }

  destroy(): void {
    if (this.phase === CLOSED) return;
    this.socket.destroy();
    this.terminate(undefined, H2Code.CANCEL, `${this.side} connection closed`);
  }

  private closeGracefully(): void {
    this.endAfterFlush = true;
    this.dirty();
  }

  private setPhase(to: Phase, why: string): void {
    if (trace.on) trace("connection phase", { conn: this.connectionId, from: PHASE_NAMES[this.phase], to: PHASE_NAMES[to], why });
    this.phase = to;
  }

  /**
   * Section 5.4.1: GOAWAY with the code, then close. `discardInput`: keep reading (and
   * dropping) what the peer still sends, so its close is seen at once; for a peer we close by
   * policy rather than for an error. Otherwise its writes back up until the linger ends.
   */
  protected connectionError(code: number, message: string, discardInput = false): void {
    if (this.phase === CLOSED) return;
    trace("connection error", { conn: this.connectionId, code: h2CodeName(code), message });
    this.reader.stop();
    if (!discardInput) this.socket.pause(); // nothing more will be read: let the peer's writes back up
    this.writer.goaway(this.lastPeerStreamId, code, Buffer.from(message.slice(0, MAX_DEBUG_DATA), "latin1"));
    this.endAfterFlush = true;
    this.flush();
    const socket = this.socket;
    setTimeout(() => socket.destroy(), CLOSE_LINGER_MS).unref();
    this.terminate(
      new Http2ConnectionError(`HTTP/2 ${h2CodeName(code)}: ${message}`, code),
      code,
      `${this.side} connection error ${h2CodeName(code)}: ${message}`,
    );
  }

  onSocketData(chunk: Buffer): void {
    this.reader.push(chunk);
    if (this.readTimer === undefined && this.reader.midFrame && this.phase !== CLOSED) this.armReadTimer();
  }

  private armReadTimer(): void {
    this.readMark = this.reader.completedUnits;
    this.readTimer = setTimeout(() => this.checkRead(), this.options.frameReadTimeoutMs);
    this.readTimer.unref();
  }

  /** Input stopped mid-frame a while ago: fine if frames completed since, else a slowloris. */
  private checkRead(): void {
    this.readTimer = undefined;
    if (this.phase === CLOSED || !this.reader.midFrame) return;
    if (this.reader.completedUnits !== this.readMark) return this.armReadTimer();
    this.connectionError(H2Code.ENHANCE_YOUR_CALM, `a frame took over ${this.options.frameReadTimeoutMs} ms to arrive`);
  }

  onSocketError(err: Error): void {
    trace("socket error", { conn: this.connectionId, err: err.message });
    this.terminate(err, H2Code.CANCEL, `${this.side} connection lost (${err.message})`);
  }

  /** Everything still open dies with the connection; runs once. */
  private terminate(error: Error | undefined, code: number, reason: string): void {
    if (this.phase === CLOSED) return;
    this.setPhase(CLOSED, reason);
    if (this.settingsTimer !== undefined) clearTimeout(this.settingsTimer);
    if (this.stallTimer !== undefined) clearTimeout(this.stallTimer);
    if (this.readTimer !== undefined) clearTimeout(this.readTimer);
    this.reader.stop();
    const streams = this.streams.snapshot();
    this.streams.clear();
    this.pendingSend.clear();
    this.drainWaiters.clear();
    for (const s of streams) s.receiveReset(code, reason, true);
    const pings = this.pings;
    this.pings = NONE_PINGS;
    for (const p of pings) {
      clearTimeout(p.timer);
      p.onAck(false);
    }
    this.onClosed(error);
  }

  // --- frame checks shared by the handlers ---

  /** A stream id no one has opened yet (section 5.1: frames on idle streams). */
  private isIdle(id: number): boolean {
    const peerOpens = (id & 1) === (this.isServer ? 1 : 0);
    return peerOpens ? id > this.lastPeerStreamId : id >= this.nextStreamId;
  }

  private streamError(stream: H2Stream, code: number, message: string): void {
    trace("stream error", { conn: this.connectionId, stream: stream.id, code: h2CodeName(code), message });
    this.writeRst(stream.id, code);
    stream.receiveReset(code, `stream error ${h2CodeName(code)}: ${message}`, false);
  }

  private countAck(): void {
    if (++this.ackBacklog > MAX_ACK_BACKLOG) {
      this.connectionError(H2Code.ENHANCE_YOUR_CALM, "too many SETTINGS/PING frames while not reading our answers");
    }
  }

  /** Rapid reset: the peer opens streams only to cancel them (or to have them refused). */
  private countPrematureReset(): void {
    this.prematureResets++;
    if (!this.resetBudget.take(performance.now())) {
      return this.connectionError(H2Code.ENHANCE_YOUR_CALM, `streams reset before completion: over ${RESET_BURST} at once or ${RESET_PER_SECOND} a second`);
    }
    if (this.prematureResets >= PREMATURE_RESET_MIN && this.prematureResets >= this.streamsOpenedByPeer * PREMATURE_RESET_RATIO) {
      this.connectionError(H2Code.ENHANCE_YOUR_CALM, `${this.prematureResets} of ${this.streamsOpenedByPeer} streams reset before completion`);
    }
  }

  // --- FrameHandler ---

  onData(streamId: number, data: Buffer, endStream: boolean, flowLength: number): void {
    this.recvWindow -= flowLength;
    if (this.recvWindow < 0) return this.connectionError(H2Code.FLOW_CONTROL_ERROR, "DATA beyond the connection window");
    if (data.length === 0 && !endStream) {
      if (++this.emptyDataRun > MAX_EMPTY_DATA_RUN) return this.connectionError(H2Code.ENHANCE_YOUR_CALM, "flood of empty DATA frames");
    } else {
      this.emptyDataRun = 0;
    }
    const s = this.streams.get(streamId);
    if (s === undefined) {
      this.grantConnection(flowLength);
      if (this.isIdle(streamId)) return this.connectionError(H2Code.PROTOCOL_ERROR, `DATA on idle stream ${streamId}`);
      return this.frameOnClosedStream(streamId, "DATA");
    }
    if (!s.canReceive) {
      this.grantConnection(flowLength);
      return this.streamError(s, H2Code.STREAM_CLOSED, "DATA after END_STREAM");
    }
    if (s.contentLength >= 0) {
      // Section 8.1.1: the DATA must add up to content-length, exactly.
      s.contentReceived += data.length;
      if (s.contentReceived > s.contentLength || (endStream && s.contentReceived !== s.contentLength)) {
        this.grantConnection(flowLength);
        return this.streamError(s, H2Code.PROTOCOL_ERROR, `content-length ${s.contentLength}, DATA ${endStream ? "of" : "past"} ${s.contentReceived} octets`);
      }
    }
    if (!this.isServer && !s.gotResponse) {
      this.grantConnection(flowLength);
      return this.streamError(s, H2Code.PROTOCOL_ERROR, "DATA before response headers");
    }
    s.recvWindow -= flowLength;
    if (s.recvWindow < 0) {
      this.grantConnection(flowLength);
      return this.streamError(s, H2Code.FLOW_CONTROL_ERROR, "DATA beyond the stream window");
    }
    if (flowLength > data.length) this.consumed(s, flowLength - data.length); // padding is consumed at once
    s.receiveData(data, endStream);
  }

  onHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    const s = this.streams.get(streamId);
    if (s === undefined) {
      if (this.isServer && (streamId & 1) === 1 && streamId > this.lastPeerStreamId) return this.newPeerStream(streamId, block, endStream);
      if (this.isIdle(streamId)) return this.connectionError(H2Code.PROTOCOL_ERROR, `HEADERS on idle stream ${streamId}`);
      if (this.decodeOrFail(block, BlockKind.TRAILERS) === undefined) return; // decoded all the same: the HPACK table must stay in step
      // Trailers racing our reset are expected. A client reusing an id it skipped is not
      // (section 5.1.1); backends' late HEADERS after our cancels are tolerated whatever their age.
      if (this.isServer && this.closedStreams.lookup(streamId) === ClosedBy.UNKNOWN) {
        return this.connectionError(H2Code.PROTOCOL_ERROR, `HEADERS on closed or skipped stream ${streamId}`);
      }
      return this.frameOnClosedStream(streamId, "HEADERS");
    }
    const isResponse = !this.isServer && !s.gotResponse;
    const headers = this.decodeOrFail(block, isResponse ? BlockKind.RESPONSE : BlockKind.TRAILERS);
    if (headers === undefined) return;
    if (!s.canReceive) return this.streamError(s, H2Code.STREAM_CLOSED, "HEADERS after END_STREAM");
    if (typeof headers === "string") return this.streamError(s, H2Code.PROTOCOL_ERROR, `malformed ${isResponse ? "response" : "trailers"}: ${headers}`);
    if (isResponse) {
      const status = headers[":status"] as string;
      if (status.charCodeAt(0) === 0x31) {
        // 1xx informational: the final response follows.
        if (endStream) return this.streamError(s, H2Code.PROTOCOL_ERROR, "informational response with END_STREAM");
        return;
      }
      return s.receiveResponse(headers, endStream);
    }
    if (!endStream) return this.streamError(s, H2Code.PROTOCOL_ERROR, "trailers without END_STREAM");
    if (s.contentLength >= 0 && s.contentReceived !== s.contentLength) {
      return this.streamError(s, H2Code.PROTOCOL_ERROR, `content-length ${s.contentLength}, DATA of ${s.contentReceived} octets`);
    }
    s.receiveTrailers(headers);
  }

  /**
   * DATA or HEADERS on a stream that is no longer open (section 5.1). Sent before our reset
   * reached the peer: ignored. After the peer ended or reset the stream itself, or long after
   * it closed: STREAM_CLOSED, for DATA a stream error, once (the stream then counts as reset
   * by us); for HEADERS, which would reopen a finished request, the connection's. A backend's
   * late frames are ignored unless it had ended the stream itself.
   */
  private frameOnClosedStream(streamId: number, what: "DATA" | "HEADERS"): void {
    const how = this.closedStreams.lookup(streamId);
    if (how === ClosedBy.US_RESET || (!this.isServer && how === ClosedBy.UNKNOWN)) return;
    trace("frame on closed stream", { conn: this.connectionId, stream: streamId, frame: what });
    if (what === "HEADERS") return this.connectionError(H2Code.STREAM_CLOSED, `HEADERS on closed stream ${streamId}`);
    this.writeRst(streamId, H2Code.STREAM_CLOSED);
    this.countAck();
  }

  /** Decodes a block; undefined after a connection error (the HPACK state is lost). */
  private decodeOrFail(block: Buffer, kind: BlockKind): Headers | string | undefined {
    try {
      return this.decoder.decode(block, kind);
    } catch (err) {
      if (err instanceof HpackError && err.tableInSync) return `${err.message}`;
      const message = err instanceof Error ? err.message : String(err);
      this.connectionError(H2Code.COMPRESSION_ERROR, message);
      return undefined;
    }
  }

  private newPeerStream(id: number, block: Buffer, endStream: boolean): void {
    this.lastPeerStreamId = id;
    const headers = this.decodeOrFail(block, BlockKind.REQUEST);
    if (headers === undefined) return;
    this.streamsOpenedByPeer++;
    if (typeof headers === "string") {
      trace("malformed request", { conn: this.connectionId, stream: id, problem: headers });
      this.writeRst(id, H2Code.PROTOCOL_ERROR);
      return this.countPrematureReset();
    }
    if (this.phase !== OPEN) {
      // After our GOAWAY: not processed; the client may retry it elsewhere.
      this.writeRst(id, H2Code.REFUSED_STREAM);
      return;
    }
    if (this.streams.size >= this.options.maxConcurrentStreams) {
      this.writeRst(id, H2Code.REFUSED_STREAM);
      return this.countPrematureReset();
    }
    const contentLength = parseContentLength(headers["content-length"]);
    if (contentLength === undefined || (endStream && contentLength > 0)) {
      trace("malformed request", { conn: this.connectionId, stream: id, problem: "content-length" });
      this.writeRst(id, H2Code.PROTOCOL_ERROR);
      return this.countPrematureReset();
    }
    const s = this.createPeerStream(id, headers);
    s.contentLength = contentLength;
    this.streams.set(id, s);
    if (endStream) s.receiveData(EMPTY, true);
    this.onPeerStream(s);
  }

  onPushPromise(): void {
    // We send SETTINGS_ENABLE_PUSH 0 (section 8.4): a promise is a protocol error.
    this.connectionError(H2Code.PROTOCOL_ERROR, "PUSH_PROMISE although push is disabled");
  }

  /** Streams opened on this connection, by either side: what the frame allowances grow with. */
  private get streamsOpened(): number {
    return this.streamsOpenedByPeer + (this.nextStreamId >>> 1);
  }

  /** A frame that changes nothing: allowed in proportion to the streams opened. */
  private countIgnored(what: string): void {
    if (++this.ignoredFrames > IGNORED_PER_STREAM * (1 + this.streamsOpened)) {
      this.connectionError(
        H2Code.ENHANCE_YOUR_CALM,
        `flood of frames that change nothing (${this.ignoredFrames} for ${this.streamsOpened} streams; the last ${what})`,
      );
    }
  }

  onPriority(): void {
    // RFC 9113 deprecates priority signals; sluice accepts and ignores them, up to a point.
    this.countIgnored("PRIORITY");
  }

  onUnknownFrame(type: number): void {
    // Section 5.5: frames of unknown type are ignored, up to a point.
    this.countIgnored(`type ${type}`);
  }

  onRstStream(streamId: number, code: number): void {
    const s = this.streams.get(streamId);
    if (s === undefined) {
      if (this.isIdle(streamId)) return this.connectionError(H2Code.PROTOCOL_ERROR, `RST_STREAM on idle stream ${streamId}`);
      return this.countIgnored("RST_STREAM on a closed stream");
    }
    if (this.isServer) this.countPrematureReset();
    if (this.phase === CLOSED) return;
    s.receiveReset(code, this.resetReason(code), false);
  }

  onSettings(params: Buffer): void {
    if (!this.settingsBudget.take(performance.now())) {
      return this.connectionError(H2Code.ENHANCE_YOUR_CALM, `more than ${SETTINGS_BURST} SETTINGS frames at once or ${SETTINGS_PER_SECOND} a second`);
    }
    const n = settingsCount(params);
    for (let i = 0; i < n; i++) {
      const value = settingValue(params, i);
      switch (settingId(params, i)) {
        case SettingId.HEADER_TABLE_SIZE:
          this.encoder.setPeerMaxTableSize(value);
          break;
        case SettingId.MAX_CONCURRENT_STREAMS:
          this.peerMaxConcurrent = value;
          break;
        case SettingId.INITIAL_WINDOW_SIZE:
          if (!this.changeInitialWindow(value)) return;
          break;
        case SettingId.MAX_FRAME_SIZE:
          this.writer.maxFrameSize = value;
          break;
        default:
          // ENABLE_PUSH (we never push), MAX_HEADER_LIST_SIZE (advisory), unknown ids: ignored.
          break;
      }
    }
    this.writer.settingsAck();
    this.dirty();
    this.countAck();
    if (!this.peerSettingsSeen && this.phase !== CLOSED) {
      this.peerSettingsSeen = true;
      this.onPeerSettings();
    }
  }

  /**
   * Section 6.9.2: a new initial window shifts every stream's send window by the difference,
   * through the one shift the streams' windows are relative to: the work does not grow with
   * the streams a peer holds open, however often it flips the setting. Only when some stream
   * could overflow (a WINDOW_UPDATE took it near 2^31-1) are the streams looked at.
   */
  private changeInitialWindow(value: number): boolean {
    const delta = value - this.peerInitialWindow;
    this.peerInitialWindow = value;
    if (delta === 0) return true;
    this.initialWindowShift += delta;
    if (this.maxSendCredit + this.initialWindowShift > Limit.MAX_WINDOW_SIZE && this.someWindowOverflows()) {
      this.connectionError(H2Code.FLOW_CONTROL_ERROR, "SETTINGS_INITIAL_WINDOW_SIZE change overflows a stream window");
      return false;
    }
    if (delta > 0) {
      for (const s of this.pendingSend) {
        if (this.sendWindow <= 0) break;
        this.pump(s);
      }
    }
    return true;
  }

  /** Whether a stream's window is above 2^31-1; refreshes the bound it is checked against. */
  private someWindowOverflows(): boolean {
    let max: number = SettingDefault.INITIAL_WINDOW_SIZE;
    for (const s of this.streams.snapshot()) if (s.sendCredit > max) max = s.sendCredit;
    this.maxSendCredit = max;
    return max + this.initialWindowShift > Limit.MAX_WINDOW_SIZE;
  }

  onSettingsAck(): void {
    if (this.settingsTimer !== undefined) clearTimeout(this.settingsTimer);
    this.settingsTimer = undefined;
  }

  onPing(payload: Buffer, ack: boolean): void {
    if (ack) {
      // An ACK we did not ask for (or after its timeout) is ignored.
      if (this.pings.length > 0) this.settlePing(payload.readUInt32BE(0) * 0x1_0000_0000 + payload.readUInt32BE(4), true);
      return;
    }
    this.writer.ping(payload, true);
    this.dirty();
    this.countAck();
    if (this.phase !== CLOSED) this.onPeerPing();
  }

  onGoaway(lastStreamId: number, code: number, debugData: Buffer): void {
    trace("GOAWAY received", { conn: this.connectionId, lastStreamId, code: h2CodeName(code), debug: debugData.toString("latin1", 0, MAX_DEBUG_DATA) });
    if (code !== H2Code.NO_ERROR)
      logger.debug(
        { conn: this.connectionId, code: h2CodeName(code), debug: debugData.toString("latin1", 0, MAX_DEBUG_DATA) },
        "peer sent GOAWAY with an error",
      );
    this.peerGoawayLast = this.peerGoawayLast < 0 ? lastStreamId : Math.min(this.peerGoawayLast, lastStreamId);
    if (this.phase === OPEN) this.setPhase(DRAINING, "GOAWAY received");
    if (!this.isServer) {
      // Streams above last-stream-id were never processed: refused, safe to retry.
      for (const s of this.streams.snapshot()) {
        if (s.id > lastStreamId) s.receiveReset(H2Code.REFUSED_STREAM, "GOAWAY: stream not processed", false);
      }
    }
    this.onPeerGoaway(code);
    if (this.phase === DRAINING && this.streams.size === 0) this.closeGracefully();
  }

  onWindowUpdate(streamId: number, increment: number): void {
    if (++this.windowUpdates > 5 + 2 * (this.streamsOpened + WINDOW_UPDATES_PER_FRAME_SENT * this.headersOrDataSent)) {
      return this.connectionError(H2Code.ENHANCE_YOUR_CALM, `flood of WINDOW_UPDATE frames (${this.windowUpdates} for ${this.headersOrDataSent} frames sent)`);
    }
    if (streamId === 0) {
      this.sendWindow += increment;
      if (this.sendWindow > Limit.MAX_WINDOW_SIZE) return this.connectionError(H2Code.FLOW_CONTROL_ERROR, "connection window above 2^31-1");
      for (const s of this.pendingSend) {
        if (this.sendWindow <= 0) break;
        this.pump(s);
      }
      return;
    }
    const s = this.streams.get(streamId);
    if (s === undefined) {
      if (this.isIdle(streamId)) this.connectionError(H2Code.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${streamId}`);
      return;
    }
    s.sendCredit += increment;
    if (s.sendWindow > Limit.MAX_WINDOW_SIZE) return this.streamError(s, H2Code.FLOW_CONTROL_ERROR, "stream window above 2^31-1");
    if (s.sendCredit > this.maxSendCredit) this.maxSendCredit = s.sendCredit;
    this.pump(s);
  }

  private pump(s: H2Stream): void {
    const before = s.outBytes;
    s.pump();
    if (s.outBytes !== before) this.lastSendProgress = performance.now();
    if (s.outBytes === 0) this.pendingSend.delete(s);
  }

  private armStallTimer(): void {
    if (this.stallTimer !== undefined || this.phase === CLOSED) return;
    this.lastSendProgress = performance.now();
    this.stallTimer = setTimeout(() => this.checkStall(), this.options.sendStallTimeoutMs);
    this.stallTimer.unref();
  }

  /** Output has waited on the peer: give up on what made no progress for the whole timeout. */
  private checkStall(): void {
    this.stallTimer = undefined;
    if (this.phase === CLOSED || (this.pendingSend.size === 0 && !this.socketBlocked)) return;
    const idle = performance.now() - this.lastSendProgress;
    const limit = this.options.sendStallTimeoutMs;
    if (idle < limit) {
      this.stallTimer = setTimeout(() => this.checkStall(), limit - idle);
      this.stallTimer.unref();
      return;
    }
    if (this.socketBlocked || this.sendWindow <= 0) {
      const what = this.socketBlocked ? "read nothing from the socket" : "granted no connection window";
      this.connectionError(H2Code.ENHANCE_YOUR_CALM, `peer ${what} for ${limit} ms`);
      // It is not reading: our GOAWAY will not get through either.
      this.socket.destroy();
      return;
    }
    for (const s of [...this.pendingSend]) {
      if (s.sendWindow > 0) continue;
      this.pendingSend.delete(s);
      this.streamError(s, H2Code.ENHANCE_YOUR_CALM, `peer granted no stream window for ${limit} ms`);
    }
    if (this.pendingSend.size > 0) this.armStallTimer();
  }

  onStreamError(error: StreamError): void {
    const s = this.streams.get(error.streamId);
    if (s !== undefined) return this.streamError(s, error.code, error.message);
    // No RST_STREAM on an idle stream (section 6.4): the error takes the connection instead
    // (section 5.4.1 allows it). On a stream closed lately (a bad PRIORITY, a WINDOW_UPDATE of
    // 0 after the response), the stream error is still the answer, once.
    if (this.isIdle(error.streamId)) return this.connectionError(error.code, `${error.message} (idle stream ${error.streamId})`);
    if (this.closedStreams.lookup(error.streamId) === ClosedBy.US_RESET) return;
    this.writeRst(error.streamId, error.code);
    this.countAck();
  }

  onConnectionError(error: ConnectionError): void {
    if (error.kind === "handler-threw") logger.error({ conn: this.connectionId, err: error.cause }, "HTTP/2 event handler threw; closing the connection");
    this.connectionError(error.code, error.message);
  }
}

const EMPTY = Buffer.alloc(0);

/** A request's content-length: -1 when absent, undefined when not one non-negative decimal number (a malformed request, section 8.1.1). */
function parseContentLength(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return -1;
  if (typeof value !== "string" || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** The shared empty set a connection's rarely used sets start as; never added to. */
const NONE: Set<never> = new Set();
/** Likewise for the pending pings. */
const NONE_PINGS: PendingPing[] = [];

const OWNER = Symbol("sluice.h2.connection");
type OwnedSocket = Duplex & { [OWNER]: H2Connection };

function onSocketData(this: Duplex, chunk: Buffer): void {
  (this as OwnedSocket)[OWNER].onSocketData(chunk);
}
/**
 * net.Socket `onread` for connections that read directly: every socket reads into one
 * buffer, which is safe because a read is parsed to its end before the next can happen and
 * the reader copies what outlives the call (reusedInput). Node then skips the readable
 * stream machinery, a new Buffer and a nextTick per read.
 */
export function directReadOptions(): OnReadOpts {
  return DIRECT_READS;
}

const DIRECT_READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);
const DIRECT_READS: OnReadOpts = {
  buffer: DIRECT_READ_BUFFER,
  callback(this: Duplex, nread: number): boolean {
    (this as OwnedSocket)[OWNER].onSocketData(DIRECT_READ_BUFFER.subarray(0, nread));
    return true;
  },
};

function onSocketDrain(this: Duplex): void {
  (this as OwnedSocket)[OWNER].onSocketDrain();
}
function onSocketError(this: Duplex, err: Error): void {
  (this as OwnedSocket)[OWNER].onSocketError(err);
}
function onSocketClose(this: Duplex): void {
  (this as OwnedSocket)[OWNER].onSocketClose();
}
