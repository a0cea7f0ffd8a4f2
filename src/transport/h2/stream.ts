// One HTTP/2 stream: its state machine (RFC 9113 section 5.1), its send queue under flow
// control, and delivery of what arrives to a StreamListener, held while paused. The
// connection does the framing and the checks that need connection state; a stream decides
// what its own events mean. Client and server streams differ only in how headers arrive
// and how a finished response ends, so they share this class.
import { tracer } from "../../core/trace.js";
import { H2Code, type Headers, type StreamListener } from "../types.js";

const trace = tracer("h2");

/**
 * What a stream needs from its connection: framing, the connection's flow-control window
 * and socket backpressure, and word when the stream is done.
 */
export interface StreamHost {
  readonly connectionId: number;
  readonly isServer: boolean;
  /** The connection-level send window (section 6.9.1). */
  readonly sendWindow: number;
  /** How far the peer's SETTINGS_INITIAL_WINDOW_SIZE has moved since the connection began (each stream's window moves with it). */
  readonly initialWindowShift: number;
  /** The socket has more buffered than we like: writers should wait for onDrain. */
  readonly socketBlocked: boolean;
  /** DATA; the caller has checked both windows; the host charges them. */
  writeData(stream: H2Stream, data: Buffer, endStream: boolean): void;
  writeHeaders(stream: H2Stream, headers: Headers, endStream: boolean): void;
  writeRst(streamId: number, code: number): void;
  /** The stream has queued data: pump() it when a window grows. */
  waitForWindow(stream: H2Stream): void;
  /** The stream told its writer to wait: call drained() when the socket drains. */
  waitForDrain(stream: H2Stream): void;
  /** The listener took `n` octets of DATA: grant the peer that much window back. */
  consumed(stream: H2Stream, n: number): void;
  streamClosed(stream: H2Stream): void;
}

/** Section 5.1 states (idle and reserved never exist as objects: push is disabled). */
export const StreamState = {
  OPEN: 1,
  HALF_CLOSED_LOCAL: 2,
  HALF_CLOSED_REMOTE: 3,
  CLOSED: 4,
} as const;
export type StreamState = (typeof StreamState)[keyof typeof StreamState];

const STATE_NAMES = ["", "open", "half-closed (local)", "half-closed (remote)", "closed"];

/** How our side ends once queued data is out. */
const END_NONE = 0;
const END_DATA = 1;
const END_TRAILERS = 2;

/** Queued but unsent octets above which write() asks the caller to wait for onDrain. */
export const STREAM_HIGH_WATER = 64 * 1024;

const EMPTY = Buffer.alloc(0);

export class H2Stream {
  state: StreamState;
  listener: StreamListener | undefined;
  /**
   * The stream's send window less the connection's initialWindowShift: a SETTINGS change
   * of the initial window moves every stream's window (section 6.9.2) by moving the shift
   * alone, O(1) however many streams are open.
   */
  sendCredit: number;
  /** Octets we still let the peer send; recvUnacked of it consumed but not yet granted back. */
  recvWindow: number;
  recvUnacked = 0;
  /** Client role: final response headers seen (later HEADERS are trailers). */
  gotResponse = false;
  /** Server role: the request's content-length, -1 without one; and the DATA octets received, checked against it. */
  contentLength = -1;
  contentReceived = 0;

  // Send side: data waiting for window, then how to end.
  private out: Buffer[] = [];
  outBytes = 0;
  private outEnd = END_NONE;
  private outTrailers: Headers | undefined;
  /** end() or reset() was called: further writes are dropped. */
  private ended = false;
  /** write() returned false; onDrain is owed. */
  needDrain = false;
  /** Server role: response headers sent. */
  responded = false;

  // Receive side: events held while paused (or before a listener is attached), in order.
  private paused = false;
  private inbox: Buffer[] | undefined;
  private inboxEnd = END_NONE;
  private inboxTrailers: Headers | undefined;
  private delivering = false;
  /** A reset that arrived before a listener was attached. */
  private pendingReset: { code: number; reason: string; lost: boolean } | undefined;

  constructor(
    readonly host: StreamHost,
    readonly id: number,
    state: StreamState,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.state = state;
    this.sendCredit = sendWindow - host.initialWindowShift;
    this.recvWindow = recvWindow;
  }

  /** Octets the peer lets us send on this stream (may go negative after a SETTINGS change). */
  get sendWindow(): number {
    return this.sendCredit + this.host.initialWindowShift;
  }

  get closed(): boolean {
    return this.state === StreamState.CLOSED;
  }

  /** The one place the state changes. */
  transition(to: StreamState, why: string): void {
    const from = this.state;
    if (from === to) return;
    this.state = to;
    if (trace.on) trace("stream state", { conn: this.host.connectionId, stream: this.id, from: STATE_NAMES[from], to: STATE_NAMES[to], why });
    if (to === StreamState.CLOSED) {
      this.out = [];
      this.outBytes = 0;
      this.host.streamClosed(this);
    }
  }

  // --- sending ---

  write(chunk: Buffer): boolean {
    if (this.ended || !this.canSend()) return true; // dropped: the stream is done; nothing to wait for
    if (chunk.length === 0) return true;
    let rest = chunk;
    if (this.outBytes === 0) {
      const n = this.sendable();
      if (n >= rest.length) {
        this.host.writeData(this, rest, false);
        return this.noBackpressure();
      }
      if (n > 0) {
        this.host.writeData(this, rest.subarray(0, n), false);
        rest = rest.subarray(n);
      }
    }
    this.out.push(rest);
    this.outBytes += rest.length;
    this.host.waitForWindow(this);
    if (this.outBytes > STREAM_HIGH_WATER) {
      this.needDrain = true;
      return false;
    }
    return this.noBackpressure();
  }

  private noBackpressure(): boolean {
    if (!this.host.socketBlocked) return true;
    this.needDrain = true;
    this.host.waitForDrain(this);
    return false;
  }

  /** Ends our side after queued data: trailers, or an empty DATA with END_STREAM. */
  end(trailers?: Headers): void {
    if (this.ended || !this.canSend()) return;
    this.ended = true;
    if (trailers !== undefined) {
      this.outEnd = END_TRAILERS;
      this.outTrailers = trailers;
    } else {
      this.outEnd = END_DATA;
    }
    if (this.outBytes === 0) this.sendEnd();
  }

  reset(code: number): void {
    this.ended = true;
    if (this.state === StreamState.CLOSED) return;
    this.host.writeRst(this.id, code);
    this.transition(StreamState.CLOSED, `reset by us: ${code}`);
    this.dropInbox(); // after closing: a closed stream gets no WINDOW_UPDATE
  }

  /** The peer may not be sent more: we ended, or the stream closed. */
  private canSend(): boolean {
    return this.state === StreamState.OPEN || this.state === StreamState.HALF_CLOSED_REMOTE;
  }

  private sendable(): number {
    const n = Math.min(this.sendWindow, this.host.sendWindow);
    return n > 0 ? n : 0;
  }

  /** Sends queued data as far as the windows allow; called when a window grows. */
  pump(): void {
    const out = this.out;
    while (out.length > 0) {
      const n = this.sendable();
      if (n === 0) return;
      const head = out[0]!;
      if (head.length <= n) {
        out.shift();
        this.outBytes -= head.length;
        const last = out.length === 0 && this.outEnd === END_DATA;
        this.host.writeData(this, head, last);
        if (last) {
          this.outEnd = END_NONE;
          this.sentEnd();
          return;
        }
      } else {
        this.host.writeData(this, head.subarray(0, n), false);
        out[0] = head.subarray(n);
        this.outBytes -= n;
      }
    }
    if (this.outEnd !== END_NONE) this.sendEnd();
    if (this.needDrain && this.outBytes <= STREAM_HIGH_WATER && !this.host.socketBlocked) this.drained();
  }

  /** The socket or the queue took our data: the writer may go on. */
  drained(): void {
    if (!this.needDrain || this.state === StreamState.CLOSED) return;
    this.needDrain = false;
    this.listener?.onDrain();
  }

  private sendEnd(): void {
    const kind = this.outEnd;
    this.outEnd = END_NONE;
    if (kind === END_TRAILERS) {
      const trailers = this.outTrailers!;
      this.outTrailers = undefined;
      this.host.writeHeaders(this, trailers, true);
    } else {
      this.host.writeData(this, EMPTY, true);
    }
    this.sentEnd();
  }

  /** We sent END_STREAM. */
  private sentEnd(): void {
    if (this.state === StreamState.HALF_CLOSED_REMOTE) {
      this.transition(StreamState.CLOSED, "both sides ended");
      return;
    }
    // Server role, a complete response while the request is still coming: the stream stays
    // half-closed (local) until the client ends it (gRPC clients then cancel at once), its
    // DATA read and dropped, every frame still checked as RFC 9113 says. Section 8.1 allows
    // a RST_STREAM NO_ERROR instead, but frames after our reset could no longer be checked.
    this.transition(StreamState.HALF_CLOSED_LOCAL, "we ended");
  }

  /** Response (or request) headers; `endStream` with it means nothing else follows. */
  sendHeaders(headers: Headers, endStream: boolean): void {
    this.host.writeHeaders(this, headers, endStream);
    if (endStream) {
      this.ended = true;
      this.sentEnd();
    }
  }

  // --- receiving (the connection has checked state and flow control) ---

  /** True while the peer may still send on this stream. */
  get canReceive(): boolean {
    return this.state === StreamState.OPEN || this.state === StreamState.HALF_CLOSED_LOCAL;
  }

  receiveData(data: Buffer, endStream: boolean): void {
    if (data.length > 0) {
      if (this.holding()) (this.inbox ??= []).push(data);
      else {
        this.listener!.onData(data);
        this.host.consumed(this, data.length);
      }
    }
    if (endStream) this.receiveEnd(END_DATA, undefined);
  }

  /** Trailers (or, server role, request trailers): the peer's side ends with them. */
  receiveTrailers(trailers: Headers): void {
    this.receiveEnd(END_TRAILERS, trailers);
  }

  /** Client role: the response headers; with endStream a trailers-only response. */
  receiveResponse(headers: Headers, endStream: boolean): void {
    this.gotResponse = true;
    if (endStream) this.remoteEnded();
    this.listener?.onHeaders(headers, endStream);
    if (endStream) this.afterRemoteEnd();
  }

  private receiveEnd(kind: number, trailers: Headers | undefined): void {
    this.remoteEnded();
    if (this.holding() || this.inbox !== undefined) {
      this.inboxEnd = kind;
      this.inboxTrailers = trailers;
      return;
    }
    this.deliverEnd(kind, trailers);
  }

  private remoteEnded(): void {
    if (this.state === StreamState.HALF_CLOSED_LOCAL) this.transition(StreamState.CLOSED, "both sides ended");
    else if (this.state === StreamState.OPEN) this.transition(StreamState.HALF_CLOSED_REMOTE, "peer ended");
  }

  private deliverEnd(kind: number, trailers: Headers | undefined): void {
    const l = this.listener!;
    if (kind === END_TRAILERS) l.onTrailers(trailers!);
    else l.onEnd();
    this.afterRemoteEnd();
  }

  /**
   * Client role: the response is complete while our request side is still open. The
   * backend will read no more of it, so the stream is cancelled rather than left half open.
   */
  private afterRemoteEnd(): void {
    if (!this.host.isServer && this.state === StreamState.HALF_CLOSED_REMOTE) {
      this.ended = true;
      this.host.writeRst(this.id, H2Code.CANCEL);
      this.transition(StreamState.CLOSED, "response complete before request");
    }
  }

  /** RST_STREAM from the peer, or a stream error we detected (and already answered). */
  receiveReset(code: number, reason: string, connectionLost: boolean): void {
    if (this.state === StreamState.CLOSED && this.pendingReset === undefined && !this.inboxPending()) return;
    this.ended = true;
    if (this.state !== StreamState.CLOSED) this.transition(StreamState.CLOSED, reason);
    this.dropInbox();
    this.inboxEnd = END_NONE;
    if (this.listener === undefined) {
      this.pendingReset = { code, reason, lost: connectionLost };
      return;
    }
    this.listener.onReset(code, reason, connectionLost);
  }

  /** Discards held DATA; the connection window it occupied is granted back. */
  private dropInbox(): void {
    const inbox = this.inbox;
    if (inbox === undefined) return;
    this.inbox = undefined;
    let n = 0;
    for (const b of inbox) n += b.length;
    this.host.consumed(this, n);
  }

  private inboxPending(): boolean {
    return this.inbox !== undefined || this.inboxEnd !== END_NONE;
  }

  // --- delivery control ---

  private holding(): boolean {
    return this.paused || this.listener === undefined || this.delivering || this.inbox !== undefined;
  }

  attach(listener: StreamListener): void {
    this.listener = listener;
    const r = this.pendingReset;
    if (r !== undefined) {
      this.pendingReset = undefined;
      listener.onReset(r.code, r.reason, r.lost);
      return;
    }
    if (!this.paused) this.deliverHeld();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.listener !== undefined) this.deliverHeld();
  }

  /** Delivers what was held, in order, until paused again or empty. */
  private deliverHeld(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.inbox !== undefined && !this.paused) {
        const chunk = this.inbox.shift();
        if (chunk === undefined) {
          this.inbox = undefined;
          break;
        }
        if (this.inbox.length === 0) this.inbox = undefined;
        this.listener!.onData(chunk);
        this.host.consumed(this, chunk.length);
      }
    } finally {
      this.delivering = false;
    }
    if (this.inbox === undefined && !this.paused && this.inboxEnd !== END_NONE) {
      const kind = this.inboxEnd;
      const trailers = this.inboxTrailers;
      this.inboxEnd = END_NONE;
      this.inboxTrailers = undefined;
      this.deliverEnd(kind, trailers);
    }
  }
}
