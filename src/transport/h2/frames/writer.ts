// Frame encoder for one connection. Every append goes into a pending output region of one
// slab Buffer; the connection calls take() once per event-loop turn and hands the result to
// the socket in one write, which is where most of a proxy's per-RPC CPU goes otherwise.
//
// Memory: take() slices the slab rather than copying it, and later frames are written after
// the slice (like Node's own Buffer pool), so the socket may hold the slice while we keep
// writing. The slab doubles when a turn's output outgrows it; one grown past
// RETAINED_SLAB_LIMIT is dropped at take() so a burst does not pin memory for the
// connection's lifetime. Large payloads (DATA, field blocks) are referenced, not copied:
// take() then returns a Buffer[] for socket.cork()/write()/uncork() (a single writev).
//
// Flow control, stream states and SETTINGS semantics are the caller's: this layer encodes
// what it is told, splitting by the peer's SETTINGS_MAX_FRAME_SIZE. Arguments that no valid
// caller produces (stream id 0 on DATA, out-of-range numbers) throw RangeError: they are
// bugs in sluice, not peer input.
import { CONNECTION_PREFACE, Flag, FRAME_HEADER_LENGTH, FrameType, Limit, PayloadLength, SettingDefault } from "./constants.js";
import { SHARED_SLAB_POOL, type SlabPool } from "./slab-pool.js";

export interface FrameWriterOptions {
  /**
   * Where first-size slabs come from and go back to when the connection idles. Default: the
   * process-wide pool of 16 KiB slabs (one full DATA frame plus headers); its slab size is the
   * first slab size, which grows by doubling when a turn's output needs more.
   */
  readonly pool?: SlabPool;
  /**
   * Payloads at least this long are referenced instead of copied. Default 4 KiB: below it a
   * memcpy is cheaper than an extra writev segment. Referenced buffers must not be modified
   * until the socket has written them.
   */
  readonly referenceThreshold?: number;
}

/** A header block held by an encoder (HpackEncoder), valid until it starts the next one. */
export interface EncodedBlock {
  readonly blockLength: number;
  /** Copies the block to target[offset]; returns its length. */
  copyBlock(target: Uint8Array, offset: number): number;
  /** A view of the block. */
  endBlock(): Buffer;
}

const DEFAULT_REFERENCE_THRESHOLD = 4 * 1024;
/** A slab bigger than this was grown by a burst; let it go once flushed. */
const RETAINED_SLAB_LIMIT = 256 * 1024;
const EMPTY = Buffer.alloc(0);

export class FrameWriter {
  private readonly pool: SlabPool;
  private readonly initialSize: number;
  private readonly referenceThreshold: number;
  private peerMaxFrameSize: number = SettingDefault.MAX_FRAME_SIZE;
  private slab: Buffer | undefined;
  /** Pending output in the slab is [start, pos); bytes before start belong to the socket. */
  private start = 0;
  private pos = 0;
  /** Sealed output (slab slices and referenced payloads) ahead of [start, pos). */
  private sealed: Buffer[] = [];
  private sealedBytes = 0;

  constructor(options: FrameWriterOptions = {}) {
    this.pool = options.pool ?? SHARED_SLAB_POOL;
    this.initialSize = this.pool.slabSize;
    this.referenceThreshold = options.referenceThreshold ?? DEFAULT_REFERENCE_THRESHOLD;
  }

  /** The peer's SETTINGS_MAX_FRAME_SIZE: DATA and field blocks are split to fit it. */
  get maxFrameSize(): number {
    return this.peerMaxFrameSize;
  }

  set maxFrameSize(size: number) {
    if (!Number.isInteger(size) || size < Limit.MIN_MAX_FRAME_SIZE || size > Limit.MAX_MAX_FRAME_SIZE) {
      throw new RangeError(`maxFrameSize must be an integer in 16384..16777215, got ${size}`);
    }
    this.peerMaxFrameSize = size;
  }

  /** Octets appended since the last take(). */
  get pending(): number {
    return this.sealedBytes + this.pos - this.start;
  }

  /**
   * Everything appended since the last call, in order: one Buffer when it was all copied
   * into the slab (an empty one when nothing is pending), else the segments to write
   * back to back. The caller owns the result; nothing in it is written to again.
   */
  take(): Buffer | Buffer[] {
    let out: Buffer | Buffer[];
    if (this.sealed.length === 0) {
      out = this.pos > this.start && this.slab !== undefined ? this.slab.subarray(this.start, this.pos) : EMPTY;
    } else {
      this.seal();
      out = this.sealed;
      this.sealed = [];
      this.sealedBytes = 0;
    }
    this.start = this.pos;
    if (this.slab !== undefined && this.slab.length > RETAINED_SLAB_LIMIT) this.release();
    return out;
  }

  /**
   * Lets go of the slab (when the connection goes idle); the next append takes one again.
   * `recycle`: nothing outside holds a slice of it any more (the socket has written all it
   * was given), so it may go back to the pool for another connection.
   */
  release(recycle = false): void {
    if (this.pending !== 0 || this.slab === undefined) return; // pending output lives in it
    if (recycle) this.pool.recycle(this.slab);
    this.slab = undefined;
    this.start = 0;
    this.pos = 0;
  }

  /** The client connection preface magic; the client's SETTINGS must follow it. */
  preface(): void {
    this.ensure(CONNECTION_PREFACE.length);
    this.pos += CONNECTION_PREFACE.copy(this.slab!, this.pos);
  }

  /**
   * DATA for `payload`, split into frames of at most maxFrameSize; END_STREAM goes on the
   * last one only. An empty payload gives one empty frame (how END_STREAM alone is sent).
   * The caller has already reserved flow-control window for all of it.
   */
  data(streamId: number, payload: Buffer, endStream: boolean): void {
    checkStream(streamId);
    const max = this.peerMaxFrameSize;
    let off = 0;
    do {
      const n = Math.min(max, payload.length - off);
      const last = off + n === payload.length;
      this.frameHeader(n, FrameType.DATA, last && endStream ? Flag.END_STREAM : 0, streamId, 0);
      this.payload(payload, off, n);
      off += n;
    } while (off < payload.length);
  }

  /**
   * HEADERS carrying an HPACK-encoded field block, followed by as many CONTINUATION frames
   * as maxFrameSize requires (written back to back: nothing may come between them).
   */
  headers(streamId: number, block: Buffer, endStream: boolean): void {
    checkStream(streamId);
    this.fieldBlock(FrameType.HEADERS, streamId, block, endStream ? Flag.END_STREAM : 0, -1);
  }

  /**
   * headers() for the block an HPACK encoder has just built, copied from the encoder's buffer
   * straight behind the frame header: no view of it and no second copy. A block too large
   * for one frame (or for copying) takes headers()'s way.
   */
  headersFrom(streamId: number, source: EncodedBlock, endStream: boolean): void {
    const n = source.blockLength;
    if (n > this.peerMaxFrameSize || n >= this.referenceThreshold) {
      return this.headers(streamId, Buffer.from(source.endBlock()), endStream);
    }
    checkStream(streamId);
    this.frameHeader(n, FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), streamId);
    this.pos += source.copyBlock(this.slab!, this.pos);
  }

  /** PUSH_PROMISE (+ CONTINUATION). sluice never pushes; kept so every frame type round-trips. */
  pushPromise(streamId: number, promisedStreamId: number, block: Buffer): void {
    checkStream(streamId);
    checkStream(promisedStreamId);
    this.fieldBlock(FrameType.PUSH_PROMISE, streamId, block, 0, promisedStreamId);
  }

  /** PRIORITY, for completeness: RFC 9113 deprecates the scheme. `weight` is 1..256. */
  priority(streamId: number, dependency: number, weight: number, exclusive: boolean): void {
    checkStream(streamId);
    checkUint(dependency, Limit.MAX_STREAM_ID, "dependency");
    if (!Number.isInteger(weight) || weight < 1 || weight > 256) throw new RangeError(`weight must be 1..256, got ${weight}`);
    this.frameHeader(PayloadLength.PRIORITY, FrameType.PRIORITY, 0, streamId);
    const b = this.slab!;
    b.writeUInt32BE((exclusive ? 0x8000_0000 : 0) + dependency, this.pos);
    b[this.pos + 4] = weight - 1;
    this.pos += PayloadLength.PRIORITY;
  }

  rstStream(streamId: number, code: number): void {
    checkStream(streamId);
    checkUint(code, 0xffff_ffff, "error code");
    this.frameHeader(PayloadLength.RST_STREAM, FrameType.RST_STREAM, 0, streamId);
    this.pos = this.slab!.writeUInt32BE(code, this.pos);
  }

  /**
   * SETTINGS with the given (identifier, value) pairs, in order; an empty list is valid
   * (a server preface that changes nothing). Values are not range-checked beyond u32: the
   * peer validates them, and tests need to send bad ones.
   */
  settings(params: ReadonlyArray<readonly [id: number, value: number]>): void {
    const length = params.length * PayloadLength.SETTING_ENTRY;
    if (length > this.peerMaxFrameSize) throw new RangeError(`${params.length} settings exceed one frame`);
    this.frameHeader(length, FrameType.SETTINGS, 0, 0);
    const b = this.slab!;
    let p = this.pos;
    for (const [id, value] of params) {
      checkUint(id, 0xffff, "setting id");
      checkUint(value, 0xffff_ffff, "setting value");
      p = b.writeUInt16BE(id, p);
      p = b.writeUInt32BE(value, p);
    }
    this.pos = p;
  }

  settingsAck(): void {
    this.frameHeader(0, FrameType.SETTINGS, Flag.ACK, 0);
  }

  /** PING with 8 opaque octets; an ACK echoes the payload of the PING it answers. */
  ping(payload: Buffer, ack: boolean): void {
    if (payload.length !== PayloadLength.PING) throw new RangeError(`PING payload must be 8 octets, got ${payload.length}`);
    this.frameHeader(PayloadLength.PING, FrameType.PING, ack ? Flag.ACK : 0, 0);
    this.pos += payload.copy(this.slab!, this.pos);
  }

  /**
   * GOAWAY: streams above `lastStreamId` were not and will not be processed. Debug data is
   * for diagnostics only; it must fit in one frame.
   */
  goaway(lastStreamId: number, code: number, debugData: Buffer = EMPTY): void {
    checkUint(lastStreamId, Limit.MAX_STREAM_ID, "last stream id");
    checkUint(code, 0xffff_ffff, "error code");
    const length = PayloadLength.GOAWAY_MIN + debugData.length;
    if (length > this.peerMaxFrameSize) throw new RangeError(`GOAWAY debug data of ${debugData.length} octets exceeds one frame`);
    this.frameHeader(length, FrameType.GOAWAY, 0, 0);
    const b = this.slab!;
    let p = b.writeUInt32BE(lastStreamId, this.pos);
    p = b.writeUInt32BE(code, p);
    this.pos = p + debugData.copy(b, p);
  }

  /** WINDOW_UPDATE on a stream, or on the connection with stream id 0. */
  windowUpdate(streamId: number, increment: number): void {
    checkUint(streamId, Limit.MAX_STREAM_ID, "stream id");
    if (!Number.isInteger(increment) || increment < 1 || increment > Limit.MAX_WINDOW_INCREMENT) {
      throw new RangeError(`window increment must be 1..2^31-1, got ${increment}`);
    }
    this.frameHeader(PayloadLength.WINDOW_UPDATE, FrameType.WINDOW_UPDATE, 0, streamId);
    this.pos = this.slab!.writeUInt32BE(increment, this.pos);
  }

  /**
   * Any frame from raw parts, for extension frames and for tests that must produce what
   * the typed methods refuse to (bad lengths, stream ids, padding). No splitting.
   */
  raw(type: number, flags: number, streamId: number, payload: Buffer = EMPTY): void {
    checkUint(type, 0xff, "type");
    checkUint(flags, 0xff, "flags");
    checkUint(streamId, 0xffff_ffff, "stream id");
    checkUint(payload.length, Limit.MAX_MAX_FRAME_SIZE, "payload length");
    this.frameHeader(payload.length, type, flags, 0, 0);
    this.slab!.writeUInt32BE(streamId, this.pos - 4); // keeps the reserved bit if asked to
    this.payload(payload, 0, payload.length);
  }

  /** The first frame carries the block's start (after the promised id for PUSH_PROMISE). */
  private fieldBlock(type: number, streamId: number, block: Buffer, flags: number, promised: number): void {
    const max = this.peerMaxFrameSize;
    const prefix = promised >= 0 ? 4 : 0;
    let n = Math.min(block.length, max - prefix);
    let done = n === block.length;
    this.frameHeader(prefix + n, type, flags | (done ? Flag.END_HEADERS : 0), streamId, prefix);
    if (prefix !== 0) this.pos = this.slab!.writeUInt32BE(promised, this.pos);
    this.payload(block, 0, n);
    let off = n;
    while (!done) {
      n = Math.min(block.length - off, max);
      done = off + n === block.length;
      this.frameHeader(n, FrameType.CONTINUATION, done ? Flag.END_HEADERS : 0, streamId, 0);
      this.payload(block, off, n);
      off += n;
    }
  }

  /**
   * Writes a 9-octet header and guarantees `room` more octets after it (the fixed fields
   * the caller writes itself; payload() makes its own room).
   */
  private frameHeader(length: number, type: number, flags: number, streamId: number, room = length): void {
    this.ensure(FRAME_HEADER_LENGTH + room);
    const b = this.slab!;
    const p = this.pos;
    b[p] = length >>> 16;
    b[p + 1] = (length >>> 8) & 0xff;
    b[p + 2] = length & 0xff;
    b[p + 3] = type;
    b[p + 4] = flags;
    b.writeUInt32BE(streamId, p + 5);
    this.pos = p + FRAME_HEADER_LENGTH;
  }

  private payload(src: Buffer, off: number, n: number): void {
    if (n === 0) return;
    if (n < this.referenceThreshold) {
      this.ensure(n);
      this.pos += src.copy(this.slab!, this.pos, off, off + n);
      return;
    }
    this.seal();
    this.sealed.push(off === 0 && n === src.length ? src : src.subarray(off, off + n));
    this.sealedBytes += n;
  }

  /** Moves the slab's pending bytes into the sealed list, ahead of a referenced payload. */
  private seal(): void {
    if (this.pos === this.start) return;
    this.sealed.push(this.slab!.subarray(this.start, this.pos));
    this.sealedBytes += this.pos - this.start;
    this.start = this.pos;
  }

  /** Room for `n` more octets at pos, keeping [start, pos) contiguous. */
  private ensure(n: number): void {
    const slab = this.slab;
    if (slab !== undefined && slab.length - this.pos >= n) return;
    const pendingHere = this.pos - this.start;
    let size = slab === undefined ? this.initialSize : Math.max(this.initialSize, slab.length);
    // Double only while the pending output itself needs it; otherwise a fresh slab of the
    // same size will do (the old one is freed once the socket has written its slices).
    while (size < pendingHere + n) size *= 2;
    const next = size === this.initialSize ? this.pool.acquire() : Buffer.allocUnsafeSlow(size);
    if (pendingHere > 0) slab!.copy(next, 0, this.start, this.pos);
    this.slab = next;
    this.start = 0;
    this.pos = pendingHere;
  }
}

function checkStream(streamId: number): void {
  if (!Number.isInteger(streamId) || streamId < 1 || streamId > Limit.MAX_STREAM_ID) {
    throw new RangeError(`stream id must be 1..2^31-1, got ${streamId}`);
  }
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} must be 0..${max}, got ${value}`);
}
