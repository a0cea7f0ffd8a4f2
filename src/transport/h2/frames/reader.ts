// Incremental RFC 9113 frame reader. The connection feeds it socket chunks as they arrive;
// it calls one FrameHandler method per frame with fields decoded into numbers and payloads
// handed out as Buffer views, so an honest connection costs no per-frame objects beyond the
// views themselves. A frame is copied only when it straddles two chunks (into a buffer of
// exactly its length), and a field block only when CONTINUATION frames split it.
//
// Scope: framing rules that need no stream state (lengths, stream id 0 or not, padding,
// CONTINUATION sequencing and flood caps, SETTINGS values, zero WINDOW_UPDATE, the
// preface). Stream states, flow-control windows and HPACK belong to the layers above.
import { H2Code } from "../../types.js";
import { CONNECTION_PREFACE, Flag, FRAME_HEADER_LENGTH, FrameType, Limit, PayloadLength, SettingDefault } from "./constants.js";
import type { ConnectionError, FrameErrorKind, H2ErrorCode } from "./errors.js";
import type { FrameHandler } from "./handler.js";
import { checkSettings } from "./settings.js";

export type { FrameHandler } from "./handler.js";

export interface FrameReaderOptions {
  /**
   * "server": the peer is a client, so input starts with the 24-octet preface magic and
   * PUSH_PROMISE is a connection error. "client": the peer is a server, so it may not
   * enable push. Either way the first frame must be a non-ACK SETTINGS (section 3.4).
   */
  readonly role: "client" | "server";
  /** Our SETTINGS_MAX_FRAME_SIZE: larger frames are FRAME_SIZE_ERROR. Default 16384. */
  readonly maxFrameSize?: number;
  /**
   * Cap on a field block's encoded size summed over HEADERS/PUSH_PROMISE and CONTINUATION.
   * Default 64 KiB: gRPC implementations cap decoded metadata at 8-16 KiB, and HPACK only
   * shrinks it. Keeps a CONTINUATION flood from buffering without bound.
   */
  readonly maxHeaderBlockSize?: number;
  /**
   * Cap on CONTINUATION frames per field block: empty ones cost nothing against the size
   * cap but cost a callback-free parse each (CVE-2024-27316 style floods). Default 16
   * (nghttp2 allows 8; at 16 KiB frames the size cap binds first anyway).
   */
  readonly maxContinuationFrames?: number;
  /**
   * Code reported when either cap above is exceeded. The block cannot be decoded, so the
   * HPACK state is lost and the connection must go: ENHANCE_YOUR_CALM (default) says
   * "you are abusive", COMPRESSION_ERROR says "I cannot keep the header table in sync".
   */
  readonly headerFloodCode?: H2ErrorCode;
  /**
   * The chunks pushed are reused once push() returns (net.Socket's `onread` buffer): DATA
   * payloads, the only views handlers may keep, are handed out as copies. Everything else
   * is consumed during the call or already copied (split frames, CONTINUATION blocks).
   */
  readonly reusedInput?: boolean;
}

// Parser phases. The preface phase only exists for the server role.
const PREFACE = 0;
const FIRST_SETTINGS = 1;
const FRAMES = 2;
const STOPPED = 3;

const DEFAULT_MAX_HEADER_BLOCK = 64 * 1024;
const DEFAULT_MAX_CONTINUATIONS = 16;
const NO_STREAM = 0;
const STREAM_MASK = Limit.MAX_STREAM_ID;

export class FrameReader {
  private readonly handler: FrameHandler;
  private readonly fromServer: boolean;
  private readonly acceptPush: boolean;
  private readonly maxHeaderBlock: number;
  private readonly maxContinuations: number;
  private readonly floodCode: H2ErrorCode;
  private frameLimit: number;
  private phase: number;
  private prefaceMatched = 0;
  private reportingError = false;

  // The current frame's header: a reused struct of numbers, not an object per frame.
  /** A frame header split across reads is gathered here (allocated the first time one is). */
  private headerScratch: Buffer | undefined;
  private headerFill = 0;
  private fLength = 0;
  private fType = 0;
  private fFlags = 0;
  private fStream = 0;

  // Payload of a frame that straddles chunks, sized exactly to the frame.
  private partial: Buffer | undefined;
  private partialFill = 0;

  // An open field block waiting for CONTINUATION (blockStream 0 = none open).
  private blockStream = NO_STREAM;
  private blockType = 0;
  private blockEndStream = false;
  private blockPromised = 0;
  private blockSelfDependent = false;
  // Fragments are copied here rather than kept as views: a view would pin its whole socket
  // chunk, so a peer that stalls mid-block could hold ~17 chunks instead of one capped block.
  private blockBuffer: Buffer | undefined;
  private blockSize = 0;
  private blockContinuations = 0;
  private readonly reusedInput: boolean;
  /**
   * Frames read whole, a field block counting once when it ends: the connection's
   * frame-read timeout watches this move while `midFrame` holds.
   */
  completedUnits = 0;

  constructor(handler: FrameHandler, options: FrameReaderOptions) {
    this.handler = handler;
    this.fromServer = options.role === "client";
    this.acceptPush = options.role === "client";
    this.frameLimit = SettingDefault.MAX_FRAME_SIZE;
    if (options.maxFrameSize !== undefined) this.maxFrameSize = options.maxFrameSize;
    this.maxHeaderBlock = options.maxHeaderBlockSize ?? DEFAULT_MAX_HEADER_BLOCK;
    this.maxContinuations = options.maxContinuationFrames ?? DEFAULT_MAX_CONTINUATIONS;
    this.floodCode = options.headerFloodCode ?? H2Code.ENHANCE_YOUR_CALM;
    this.reusedInput = options.reusedInput ?? false;
    this.phase = options.role === "server" ? PREFACE : FIRST_SETTINGS;
  }

  /**
   * Our SETTINGS_MAX_FRAME_SIZE. Raise it when sending a larger value (the peer may use it
   * as soon as it reads our SETTINGS); lower it only once the peer has acknowledged.
   */
  get maxFrameSize(): number {
    return this.frameLimit;
  }

  set maxFrameSize(size: number) {
    if (!Number.isInteger(size) || size < Limit.MIN_MAX_FRAME_SIZE || size > Limit.MAX_MAX_FRAME_SIZE) {
      throw new RangeError(`maxFrameSize must be an integer in 16384..16777215, got ${size}`);
    }
    this.frameLimit = size;
  }

  /** True once a connection error was reported or stop() was called. */
  get stopped(): boolean {
    return this.phase === STOPPED;
  }

  /** True while a HEADERS/PUSH_PROMISE awaits CONTINUATION (EOF now is a truncated block). */
  get inFieldBlock(): boolean {
    return this.blockStream !== NO_STREAM;
  }

  /** True while input stops inside the preface, a frame or a field block (a slowloris waits here). */
  get midFrame(): boolean {
    if (this.phase === PREFACE) return this.prefaceMatched > 0;
    return this.headerFill > 0 || this.partial !== undefined || this.blockStream !== NO_STREAM;
  }

  /** Octets held for a partially received frame (memory accounting; 0 between frames). */
  get bufferedBytes(): number {
    return this.headerFill + this.partialFill + this.blockSize;
  }

  /** Stops parsing: no callback runs after this returns, and buffered input is released. */
  stop(): void {
    this.phase = STOPPED;
    this.headerFill = 0;
    this.partial = undefined;
    this.partialFill = 0;
    this.blockStream = NO_STREAM;
    this.blockBuffer = undefined;
    this.blockSize = 0;
  }

  /**
   * Feeds one socket chunk. Never throws (a throwing callback becomes a connection error
   * of kind "handler-threw"), except when onConnectionError itself throws.
   */
  push(chunk: Buffer): void {
    if (this.phase === STOPPED) return;
    try {
      this.consume(chunk);
    } catch (cause) {
      if (this.reportingError) throw cause; // thrown by onConnectionError: the caller's own
      this.fail(H2Code.INTERNAL_ERROR, "handler-threw", "a frame handler threw", cause);
    }
  }

  private consume(chunk: Buffer): void {
    const end = chunk.length;
    let off = 0;
    if (this.phase === PREFACE) {
      off = this.matchPreface(chunk);
      if (off < 0) return; // preface incomplete, or wrong
    }
    while (off < end) {
      if (this.partial !== undefined) {
        const partial = this.partial;
        const n = Math.min(partial.length - this.partialFill, end - off);
        chunk.copy(partial, this.partialFill, off, off + n);
        this.partialFill += n;
        off += n;
        if (this.partialFill < partial.length) return;
        this.partial = undefined;
        this.partialFill = 0;
        this.dispatch(partial, 0);
        if (this.phase === STOPPED) return;
        if (this.blockStream === NO_STREAM) this.completedUnits++;
        continue;
      }
      if (this.headerFill > 0 || end - off < FRAME_HEADER_LENGTH) {
        const n = Math.min(FRAME_HEADER_LENGTH - this.headerFill, end - off);
        const scratch = (this.headerScratch ??= Buffer.alloc(FRAME_HEADER_LENGTH));
        chunk.copy(scratch, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < FRAME_HEADER_LENGTH) return;
        this.headerFill = 0;
        this.readHeader(scratch, 0);
      } else {
        this.readHeader(chunk, off);
        off += FRAME_HEADER_LENGTH;
      }
      // Checks that need only the header run before any payload is buffered, so an
      // oversized or out-of-sequence frame never makes us hold its bytes.
      if (!this.checkHeader()) return;
      const length = this.fLength;
      if (end - off >= length) {
        this.dispatch(chunk, off);
        off += length;
        if (this.phase === STOPPED) return;
        if (this.blockStream === NO_STREAM) this.completedUnits++;
      } else {
        const partial = Buffer.allocUnsafe(length);
        chunk.copy(partial, 0, off, end);
        this.partial = partial;
        this.partialFill = end - off;
        return;
      }
    }
  }

  /**
   * Matches the client preface byte by byte, so it may arrive in any number of pieces.
   * Returns the offset just past it, or -1 while it is incomplete or after a mismatch.
   */
  private matchPreface(chunk: Buffer): number {
    let i = 0;
    while (i < chunk.length && this.prefaceMatched < CONNECTION_PREFACE.length) {
      if (chunk[i] !== CONNECTION_PREFACE[this.prefaceMatched]) {
        this.fail(H2Code.PROTOCOL_ERROR, "preface", "invalid connection preface");
        return -1;
      }
      i++;
      this.prefaceMatched++;
    }
    if (this.prefaceMatched < CONNECTION_PREFACE.length) return -1;
    this.phase = FIRST_SETTINGS;
    return i;
  }

  private readHeader(buf: Buffer, off: number): void {
    this.fLength = (buf[off]! << 16) | (buf[off + 1]! << 8) | buf[off + 2]!;
    this.fType = buf[off + 3]!;
    this.fFlags = buf[off + 4]!;
    // The reserved top bit MUST be ignored on receipt (section 4.1).
    this.fStream = buf.readUInt32BE(off + 5) & STREAM_MASK;
  }

  /** Header-only rules; false when a connection error was raised. */
  private checkHeader(): boolean {
    const type = this.fType;
    if (this.fLength > this.frameLimit) {
      // Section 4.2 makes this a connection error for any frame that can alter connection
      // state; for the rest (DATA, say) section 5.4 lets us escalate, and skipping up to
      // 16 MiB to keep a peer that ignores our limit is not worth it.
      this.fail(H2Code.FRAME_SIZE_ERROR, "frame-size", `${this.fLength}-octet frame exceeds SETTINGS_MAX_FRAME_SIZE ${this.frameLimit}`);
      return false;
    }
    if (this.phase === FIRST_SETTINGS) {
      if (type !== FrameType.SETTINGS || (this.fFlags & Flag.ACK) !== 0) {
        this.fail(H2Code.PROTOCOL_ERROR, "preface", "the first frame is not SETTINGS");
        return false;
      }
      this.phase = FRAMES;
    }
    if (this.blockStream !== NO_STREAM) {
      // Section 6.10: a field block is one unit; anything but its CONTINUATION (including
      // extension frames, section 5.5) in the middle is a connection error.
      if (type !== FrameType.CONTINUATION || this.fStream !== this.blockStream) {
        this.fail(H2Code.PROTOCOL_ERROR, "continuation", `expected CONTINUATION on stream ${this.blockStream}, got type ${type} on stream ${this.fStream}`);
        return false;
      }
    } else if (type === FrameType.CONTINUATION) {
      this.fail(H2Code.PROTOCOL_ERROR, "continuation", "CONTINUATION without an open field block");
      return false;
    }
    return true;
  }

  /** Validates and delivers the frame whose header is in f*, payload at buf[off...]. */
  private dispatch(buf: Buffer, off: number): void {
    const length = this.fLength;
    const flags = this.fFlags;
    const streamId = this.fStream;
    const h = this.handler;
    switch (this.fType) {
      case FrameType.DATA: {
        if (streamId === 0) return this.streamIdRequired("DATA");
        let start = off;
        let stop = off + length;
        if ((flags & Flag.PADDED) !== 0) {
          if (length < 1) return this.tooShort("padded DATA");
          const pad = buf[off]!;
          if (pad >= length) return this.badPadding("DATA", pad, length - 1);
          start++;
          stop -= pad;
        }
        const payload = this.reusedInput ? copyOut(buf, start, stop) : buf.subarray(start, stop);
        h.onData(streamId, payload, (flags & Flag.END_STREAM) !== 0, length);
        return;
      }
      case FrameType.HEADERS: {
        if (streamId === 0) return this.streamIdRequired("HEADERS");
        const padded = (flags & Flag.PADDED) !== 0;
        const prioritized = (flags & Flag.PRIORITY) !== 0;
        const fixed = (padded ? 1 : 0) + (prioritized ? PayloadLength.PRIORITY : 0);
        if (length < fixed) return this.tooShort("HEADERS");
        const pad = padded ? buf[off]! : 0;
        if (pad > length - fixed) return this.badPadding("HEADERS", pad, length - fixed);
        let selfDependent = false;
        if (prioritized) {
          const dependency = buf.readUInt32BE(off + (padded ? 1 : 0)) & STREAM_MASK;
          selfDependent = dependency === streamId;
        }
        const fragment = buf.subarray(off + fixed, off + length - pad);
        this.openBlock(FrameType.HEADERS, streamId, fragment, flags, 0, selfDependent);
        return;
      }
      case FrameType.PRIORITY: {
        if (streamId === 0) return this.streamIdRequired("PRIORITY");
        // Section 6.3: a stream error, unlike most length errors (PRIORITY changes no state).
        if (length !== PayloadLength.PRIORITY) {
          return this.streamError(streamId, H2Code.FRAME_SIZE_ERROR, "frame-size", `PRIORITY of ${length} octets`);
        }
        const word = buf.readUInt32BE(off);
        const dependency = word & STREAM_MASK;
        if (dependency === streamId) {
          return this.streamError(streamId, H2Code.PROTOCOL_ERROR, "self-dependency", "stream depends on itself");
        }
        h.onPriority?.(streamId, dependency, word >>> 31 === 1, buf[off + 4]! + 1);
        return;
      }
      case FrameType.RST_STREAM:
        if (streamId === 0) return this.streamIdRequired("RST_STREAM");
        if (length !== PayloadLength.RST_STREAM) return this.wrongLength("RST_STREAM", length);
        h.onRstStream(streamId, buf.readUInt32BE(off));
        return;
      case FrameType.SETTINGS: {
        if (streamId !== 0) return this.connectionOnly("SETTINGS");
        if ((flags & Flag.ACK) !== 0) {
          if (length !== 0) return this.wrongLength("SETTINGS ACK", length);
          h.onSettingsAck();
          return;
        }
        if (length % PayloadLength.SETTING_ENTRY !== 0) return this.wrongLength("SETTINGS", length);
        const problem = checkSettings(buf, off, length, this.fromServer);
        if (problem !== undefined) return this.fail(problem.code, "settings-value", problem.message);
        h.onSettings(buf.subarray(off, off + length));
        return;
      }
      case FrameType.PUSH_PROMISE: {
        if (streamId === 0) return this.streamIdRequired("PUSH_PROMISE");
        if (!this.acceptPush) {
          return this.fail(H2Code.PROTOCOL_ERROR, "push-promise", "a client sent PUSH_PROMISE");
        }
        const padded = (flags & Flag.PADDED) !== 0;
        const fixed = (padded ? 1 : 0) + 4;
        if (length < fixed) return this.tooShort("PUSH_PROMISE");
        const pad = padded ? buf[off]! : 0;
        if (pad > length - fixed) return this.badPadding("PUSH_PROMISE", pad, length - fixed);
        const promised = buf.readUInt32BE(off + fixed - 4) & STREAM_MASK;
        const fragment = buf.subarray(off + fixed, off + length - pad);
        this.openBlock(FrameType.PUSH_PROMISE, streamId, fragment, flags, promised, false);
        return;
      }
      case FrameType.PING:
        if (streamId !== 0) return this.connectionOnly("PING");
        if (length !== PayloadLength.PING) return this.wrongLength("PING", length);
        h.onPing(buf.subarray(off, off + length), (flags & Flag.ACK) !== 0);
        return;
      case FrameType.GOAWAY:
        if (streamId !== 0) return this.connectionOnly("GOAWAY");
        if (length < PayloadLength.GOAWAY_MIN) return this.tooShort("GOAWAY");
        h.onGoaway(buf.readUInt32BE(off) & STREAM_MASK, buf.readUInt32BE(off + 4), buf.subarray(off + PayloadLength.GOAWAY_MIN, off + length));
        return;
      case FrameType.WINDOW_UPDATE: {
        // Section 6.9: a bad length is a connection error even on a stream.
        if (length !== PayloadLength.WINDOW_UPDATE) return this.wrongLength("WINDOW_UPDATE", length);
        const increment = buf.readUInt32BE(off) & STREAM_MASK;
        if (increment === 0) {
          if (streamId === 0) {
            return this.fail(H2Code.PROTOCOL_ERROR, "zero-window-increment", "connection WINDOW_UPDATE of 0");
          }
          return this.streamError(streamId, H2Code.PROTOCOL_ERROR, "zero-window-increment", "WINDOW_UPDATE of 0");
        }
        h.onWindowUpdate(streamId, increment);
        return;
      }
      case FrameType.CONTINUATION:
        // checkHeader() guaranteed an open block on this stream.
        this.continueBlock(buf.subarray(off, off + length), flags);
        return;
      default:
        // Section 5.5: unknown types MUST be ignored (checkHeader already refused them
        // inside a field block).
        h.onUnknownFrame?.(this.fType, flags, streamId, buf.subarray(off, off + length));
        return;
    }
  }

  private openBlock(type: number, streamId: number, fragment: Buffer, flags: number, promised: number, selfDependent: boolean): void {
    if (fragment.length > this.maxHeaderBlock) return this.flood("header-block-too-large", fragment.length);
    if ((flags & Flag.END_HEADERS) !== 0) {
      // The common case: the whole block in one frame, handed out without a copy.
      return this.deliverBlock(type, streamId, fragment, (flags & Flag.END_STREAM) !== 0, promised, selfDependent);
    }
    this.blockStream = streamId;
    this.blockType = type;
    this.blockEndStream = (flags & Flag.END_STREAM) !== 0;
    this.blockPromised = promised;
    this.blockSelfDependent = selfDependent;
    const buffer = Buffer.allocUnsafe(Math.min(this.maxHeaderBlock, Math.max(2 * fragment.length, 1024)));
    fragment.copy(buffer);
    this.blockBuffer = buffer;
    this.blockSize = fragment.length;
    this.blockContinuations = 0;
  }

  private continueBlock(fragment: Buffer, flags: number): void {
    this.blockContinuations++;
    const size = this.blockSize + fragment.length;
    if (this.blockContinuations > this.maxContinuations) return this.flood("too-many-continuations", size);
    if (size > this.maxHeaderBlock) return this.flood("header-block-too-large", size);
    let buffer = this.blockBuffer!;
    if (size > buffer.length) {
      // Doubling, capped: the block can never need more than maxHeaderBlock.
      const grown = Buffer.allocUnsafe(Math.min(this.maxHeaderBlock, Math.max(2 * buffer.length, size)));
      buffer.copy(grown, 0, 0, this.blockSize);
      buffer = grown;
      this.blockBuffer = grown;
    }
    fragment.copy(buffer, this.blockSize);
    this.blockSize = size;
    if ((flags & Flag.END_HEADERS) === 0) return;
    // The delivered view keeps this buffer; the next block gets a new one, so it stays intact.
    const block = buffer.subarray(0, size);
    const streamId = this.blockStream;
    this.blockStream = NO_STREAM;
    this.blockBuffer = undefined;
    this.blockSize = 0;
    this.deliverBlock(this.blockType, streamId, block, this.blockEndStream, this.blockPromised, this.blockSelfDependent);
  }

  private deliverBlock(type: number, streamId: number, block: Buffer, endStream: boolean, promised: number, selfDependent: boolean): void {
    if (type === FrameType.PUSH_PROMISE) return this.handler.onPushPromise(streamId, promised, block);
    this.handler.onHeaders(streamId, block, endStream);
    // Reported after the block so the HPACK decoder still sees it (section 4.3): the stream
    // layer opens the stream and then resets it.
    if (selfDependent && this.phase !== STOPPED) {
      this.streamError(streamId, H2Code.PROTOCOL_ERROR, "self-dependency", "stream depends on itself");
    }
  }

  private flood(kind: FrameErrorKind, size: number): void {
    const message =
      kind === "too-many-continuations"
        ? `more than ${this.maxContinuations} CONTINUATION frames in one field block`
        : `field block of ${size}+ octets exceeds ${this.maxHeaderBlock}`;
    this.fail(this.floodCode, kind, message);
  }

  private streamError(streamId: number, code: H2ErrorCode, kind: FrameErrorKind, message: string): void {
    this.handler.onStreamError({ scope: "stream", streamId, code, kind, message });
  }

  private streamIdRequired(frame: string): void {
    return this.fail(H2Code.PROTOCOL_ERROR, "stream-id", `${frame} on stream 0`);
  }

  private connectionOnly(frame: string): void {
    return this.fail(H2Code.PROTOCOL_ERROR, "stream-id", `${frame} on stream ${this.fStream}`);
  }

  private wrongLength(frame: string, length: number): void {
    return this.fail(H2Code.FRAME_SIZE_ERROR, "frame-size", `${frame} of ${length} octets`);
  }

  private tooShort(frame: string): void {
    return this.fail(H2Code.FRAME_SIZE_ERROR, "frame-size", `${frame} too short for its fields (${this.fLength} octets)`);
  }

  private badPadding(frame: string, pad: number, room: number): void {
    return this.fail(H2Code.PROTOCOL_ERROR, "padding", `${frame} Pad Length ${pad} exceeds the ${room} octets left`);
  }

  private fail(code: H2ErrorCode, kind: FrameErrorKind, message: string, cause?: unknown): void {
    this.stop();
    const error: ConnectionError = cause === undefined ? { scope: "connection", code, kind, message } : { scope: "connection", code, kind, message, cause };
    this.reportingError = true;
    try {
      this.handler.onConnectionError(error);
    } finally {
      this.reportingError = false;
    }
  }
}

/** buf[start, stop) in a Buffer of its own (from node's pool when small). */
function copyOut(buf: Buffer, start: number, stop: number): Buffer {
  const n = stop - start;
  const out = Buffer.allocUnsafe(n);
  // Buffer#copy of part of a buffer makes a view first; short payloads copy faster by hand.
  if (n > 64) buf.copy(out, 0, start, stop);
  else for (let i = 0; i < n; i++) out[i] = buf[start + i]!;
  return out;
}
