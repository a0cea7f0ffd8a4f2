// RFC 7541 header block encoding with an indexing policy tuned for a gRPC proxy: the same
// few fields (method, scheme, path, authority, content-type, te, user-agent, status,
// grpc-status) repeat on every request of a connection and cost one octet each once in
// the dynamic table; values unique per request are not indexed, so they do not push the
// repeating ones out; credentials are never indexed (section 7.1.3).

import { InvalidStateError } from "../../../core/errors.js";
import { DynamicTable, entrySize } from "./dynamic-table.js";
import { huffmanEncode, huffmanEncodedLength } from "./huffman.js";
import { encodeInteger } from "./integer.js";
import { STATIC_BY_NAME, STATIC_TABLE_LENGTH } from "./static-table.js";
import type { DynamicTableView } from "./decoder.js";

/** A field to encode; neverIndexed as decoded (section 6.2.3) or to protect a value. */
export type FieldInput = readonly [name: string, value: string, neverIndexed?: boolean];

export interface HpackEncoderOptions {
  /**
   * Largest dynamic table this encoder uses, whatever the peer's SETTINGS_HEADER_TABLE_SIZE
   * allows: memory per connection. Default 4096 (the protocol default).
   */
  maxTableSize?: number;
  /** Huffman-encode strings where that is shorter (default true). */
  huffman?: boolean;
  /** Names whose values differ on every message and would only evict useful entries. */
  unindexedNames?: Iterable<string>;
}

/** Values per request (deadlines, trace and request ids): not worth a table entry. */
export const DEFAULT_UNINDEXED_NAMES: readonly string[] = [
  "grpc-timeout",
  "content-length",
  "traceparent",
  "tracestate",
  "grpc-trace-bin",
  "x-request-id",
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "x-cloud-trace-context",
  "x-amzn-trace-id",
];

const DEFAULT_UNINDEXED: ReadonlySet<string> = new Set(DEFAULT_UNINDEXED_NAMES);
/** What an encoder's lookups start as until its first table entry: shared, never added to. */
const NO_NAMES: Map<string, never> = new Map<string, never>();

/**
 * The buffer blocks are built in, shared by every encoder of the process: a block is built
 * and copied out (copyBlock, or endBlock and a copy) before anything else runs, so one buffer
 * serves all connections and an idle connection holds none. The block counter catches an encoder
 * reading a block after another one started (blocksStarted moved on).
 */
let scratch = Buffer.allocUnsafeSlow(4096);
let blocksStarted = 0;

/** The protocol's initial SETTINGS_HEADER_TABLE_SIZE, which both sides start from. */
const PROTOCOL_TABLE_SIZE = 4096;

/** Per name in the dynamic table: the newest entry with it and each value's newest entry. */
interface NameEntries {
  seq: number;
  readonly values: Map<string, number>;
  /** The value looked up or added last and its entry (lastSeq -1 once evicted): most fields repeat. */
  lastValue: string;
  lastSeq: number;
}

// Representation prefixes (section 6).
const INDEXED = 0x80;
const INCREMENTAL = 0x40;
const SIZE_UPDATE = 0x20;
const NEVER_INDEXED = 0x10;
const WITHOUT_INDEXING = 0x00;

export class HpackEncoder {
  private readonly dynamic: DynamicTable;
  /** Lookups keyed by entry sequence number, pruned on eviction (see DynamicTable). */
  private byName: Map<string, NameEntries> = NO_NAMES;
  private readonly cap: number;
  private readonly huffman: boolean;
  private readonly unindexed: ReadonlySet<string>;
  /** Size updates owed at the next block start: the lowest since the last block, then the final. */
  private pendingMin = -1;
  private pendingFinal = -1;
  private pos = 0;
  /** Which block (of all encoders') is this encoder's; -1 before its first. */
  private block = -1;

  constructor(options: HpackEncoderOptions = {}) {
    this.cap = options.maxTableSize ?? PROTOCOL_TABLE_SIZE;
    this.huffman = options.huffman ?? true;
    this.unindexed = options.unindexedNames === undefined ? DEFAULT_UNINDEXED : new Set(options.unindexedNames);
    this.dynamic = new DynamicTable(PROTOCOL_TABLE_SIZE, (name, value, seq) => this.forget(name, value, seq));
    if (this.cap < PROTOCOL_TABLE_SIZE) this.setPeerMaxTableSize(PROTOCOL_TABLE_SIZE);
  }

  get table(): DynamicTableView {
    return this.dynamic;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE arrived. The table follows min(size, our cap),
   * announced by size updates at the start of the next block (section 4.2): when the limit
   * dipped and rose again in between, the lowest value is announced first so the peer's
   * decoder evicts as we did.
   */
  setPeerMaxTableSize(size: number): void {
    const effective = Math.min(size, this.cap);
    this.pendingMin = this.pendingFinal < 0 ? effective : Math.min(this.pendingMin, effective);
    this.pendingFinal = effective;
  }

  /** Encodes one header block into a new Buffer. */
  encode(fields: Iterable<FieldInput>): Buffer {
    this.startBlock();
    for (const [name, value, neverIndexed] of fields) this.field(name, value, neverIndexed ?? false);
    return Buffer.from(this.endBlock());
  }

  /**
   * Starts a block: the streaming form of encode(), which allocates nothing per block. The
   * block lives in a buffer shared by all encoders: read it before any encoder starts another.
   */
  startBlock(): void {
    this.block = ++blocksStarted;
    this.pos = 0;
    if (this.pendingFinal < 0) return;
    const current = this.dynamic.maxSize;
    const lowered = this.pendingMin < current && this.pendingMin < this.pendingFinal;
    if (lowered) this.sizeUpdate(this.pendingMin);
    if (lowered || this.pendingFinal !== current) this.sizeUpdate(this.pendingFinal);
    this.pendingMin = this.pendingFinal = -1;
  }

  /** Adds one field to the block. name must be lower case; strings are latin1 octets. */
  field(name: string, value: string, neverIndexed = false): void {
    const sensitive =
      neverIndexed ||
      name === "authorization" ||
      name === "proxy-authorization" ||
      // Short cookies are guessable by an attacker who can observe compressed sizes (7.1.3).
      (name === "cookie" && value.length < 20);
    const fromDynamic = this.byName.get(name);
    if (!sensitive && fromDynamic !== undefined) {
      // An exact static match is never added to the dynamic table, so looking here first
      // cannot miss a better index.
      let seq = fromDynamic.lastSeq;
      if (seq < 0 || fromDynamic.lastValue !== value) {
        seq = fromDynamic.values.get(value) ?? -1;
        if (seq >= 0) {
          fromDynamic.lastValue = value;
          fromDynamic.lastSeq = seq;
        }
      }
      if (seq >= 0) return this.indexed(STATIC_TABLE_LENGTH + this.dynamic.indexOfSeq(seq));
    }
    const fromStatic = STATIC_BY_NAME.get(name);
    if (!sensitive) {
      const staticIndex = fromStatic?.values.get(value);
      if (staticIndex !== undefined) return this.indexed(staticIndex);
    }
    // Static names first: their indices never change, and are small.
    let nameIndex = 0;
    if (fromStatic !== undefined) nameIndex = fromStatic.nameIndex;
    else if (fromDynamic !== undefined) nameIndex = STATIC_TABLE_LENGTH + this.dynamic.indexOfSeq(fromDynamic.seq);

    if (sensitive) return this.literal(NEVER_INDEXED, 4, nameIndex, name, value);
    // An entry over 3/4 of the table would flush everything else for one field.
    if (this.unindexed.has(name) || entrySize(name, value) * 4 > this.dynamic.maxSize * 3) {
      return this.literal(WITHOUT_INDEXING, 4, nameIndex, name, value);
    }
    this.literal(INCREMENTAL, 6, nameIndex, name, value);
    this.remember(name, value);
  }

  /**
   * Appends bytes from encodeStatic(): representations that neither use nor change the
   * dynamic table, so they are valid in any block of any connection.
   */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length).set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** The block so far: a view over the encoder's buffer, valid until any encoder's next startBlock(). */
  endBlock(): Buffer {
    return this.scratch().subarray(0, this.pos);
  }

  /** Octets in the block so far. */
  get blockLength(): number {
    return this.pos;
  }

  /**
   * Copies the block so far to target[offset] (e.g. behind a frame header in the write
   * buffer) and returns its length: endBlock() without creating a view.
   */
  copyBlock(target: Uint8Array, offset: number): number {
    const src = this.scratch();
    const n = this.pos;
    // Buffer#copy of part of a buffer creates a view first; typical blocks (a few dozen
    // octets once the table is warm) copy faster by hand.
    if (n > 64) return src.copy(target, offset, 0, n);
    for (let i = 0; i < n; i++) target[offset + i] = src[i]!;
    return n;
  }

  private indexed(index: number): void {
    this.pos = encodeInteger(this.ensure(6), this.pos, index, 7, INDEXED);
  }

  private sizeUpdate(size: number): void {
    this.dynamic.setMaxSize(size);
    this.pos = encodeInteger(this.ensure(6), this.pos, size, 5, SIZE_UPDATE);
  }

  private literal(flags: number, prefixBits: number, nameIndex: number, name: string, value: string): void {
    // Integers take at most 6 octets; a string at most its raw length plus its length prefix.
    const buf = this.ensure(18 + (nameIndex === 0 ? name.length : 0) + value.length);
    let pos = encodeInteger(buf, this.pos, nameIndex, prefixBits, flags);
    if (nameIndex === 0) pos = writeName(buf, pos, name, this.huffman);
    this.pos = writeString(buf, pos, value, this.huffman);
  }

  private remember(name: string, value: string): void {
    const seq = this.dynamic.insertedCount;
    this.dynamic.add(name, value);
    if (this.dynamic.indexOfSeq(seq) === 0) return; // larger than the table: not added
    if (this.byName === NO_NAMES) this.byName = new Map();
    const entries = this.byName.get(name);
    if (entries === undefined) this.byName.set(name, { seq, values: new Map([[value, seq]]), lastValue: value, lastSeq: seq });
    else {
      entries.seq = seq;
      entries.values.set(value, seq);
      entries.lastValue = value;
      entries.lastSeq = seq;
    }
  }

  /** Eviction of entry seq: drop the lookups that still point at it. */
  private forget(name: string, value: string, seq: number): void {
    const entries = this.byName.get(name);
    if (entries === undefined) return;
    // Entries leave oldest first, so when the newest with this name goes, all have gone.
    if (entries.seq === seq) this.byName.delete(name);
    else if (entries.values.get(value) === seq) entries.values.delete(value);
    if (entries.lastSeq === seq) entries.lastSeq = -1;
  }

  /** Room for n more octets; returns the (possibly new) buffer. */
  private ensure(n: number): Buffer {
    const buf = this.scratch();
    if (this.pos + n > buf.length) {
      const grown = Buffer.allocUnsafeSlow(Math.max(buf.length * 2, this.pos + n));
      buf.copy(grown, 0, 0, this.pos);
      scratch = grown;
    }
    return scratch;
  }

  /** The shared buffer, while this encoder's block is the one in it. */
  private scratch(): Buffer {
    if (this.block !== blocksStarted) throw new InvalidStateError("HPACK block read or extended after another encoder started one (or before startBlock)");
    return scratch;
  }
}

/**
 * Section 5.2 string literal at out[pos], Huffman-coded when that is strictly shorter.
 * out needs s.length + 6 octets free. Returns the offset after it.
 */
function writeString(out: Buffer, pos: number, s: string, huffman: boolean): number {
  const huffmanLength = huffmanEncodedLength(s);
  if (huffmanLength < 0) throw new RangeError(`header string holds a char above 0xff: ${JSON.stringify(s)}`);
  if (huffman && huffmanLength < s.length) {
    return huffmanEncode(s, out, encodeInteger(out, pos, huffmanLength, 7, 0x80));
  }
  let o = encodeInteger(out, pos, s.length, 7, 0);
  // Short strings (most header values) copy faster by hand than through Buffer#write.
  if (s.length < 32) {
    for (let i = 0; i < s.length; i++) out[o++] = s.charCodeAt(i);
    return o;
  }
  return o + out.write(s, o, "latin1");
}

// Names not in either table (grpc-timeout, x-request-id, ...) are sent as literals on every
// message; their encodings are kept process-wide, keyed by name. Cleared when full, so
// names a peer invents cannot grow it.
const NAME_CACHE_LIMIT = 2048;
const encodedNames = [new Map<string, Buffer>(), new Map<string, Buffer>()]; // [raw, Huffman]

function writeName(out: Buffer, pos: number, name: string, huffman: boolean): number {
  const cache = encodedNames[huffman ? 1 : 0] ?? new Map<string, Buffer>();
  let encoded = cache.get(name);
  if (encoded === undefined) {
    const scratch = Buffer.allocUnsafe(name.length + 6);
    encoded = Buffer.from(scratch.subarray(0, writeString(scratch, 0, name, huffman)));
    if (cache.size >= NAME_CACHE_LIMIT) cache.clear();
    cache.set(name, encoded);
  }
  return pos + encoded.copy(out, pos);
}

/**
 * Encodes a field once, for reuse in any block of any connection through raw(): indexed
 * when the static table holds it exactly, else a literal that is not added to the dynamic
 * table (never-indexed when asked), with the static name index where there is one.
 * Suits fields sent on every message whose bytes should not be recomputed, at the price of
 * not shrinking to one octet through the dynamic table.
 */
export function encodeStatic(name: string, value: string, neverIndexed = false, huffman = true): Buffer {
  const fromStatic = STATIC_BY_NAME.get(name);
  const out = Buffer.alloc(18 + name.length + value.length);
  const exact = neverIndexed ? undefined : fromStatic?.values.get(value);
  if (exact !== undefined) return out.subarray(0, encodeInteger(out, 0, exact, 7, INDEXED));
  const nameIndex = fromStatic?.nameIndex ?? 0;
  let pos = encodeInteger(out, 0, nameIndex, 4, neverIndexed ? NEVER_INDEXED : WITHOUT_INDEXING);
  if (nameIndex === 0) pos = writeString(out, pos, name, huffman);
  pos = writeString(out, pos, value, huffman);
  return out.subarray(0, pos);
}
