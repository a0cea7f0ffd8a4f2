// A reference HPACK decoder for differential fuzzing: RFC 7541 read literally (bit-by-bit
// Huffman, arrays for the table, BigInt integers), no caches, no speed. It follows the
// same policy choices as HpackDecoder's documentation: string limits apply to literals;
// past maxHeaderListSize no field is delivered but the block is decoded to its end (the
// strings of non-indexed literals only stepped over) and the table stays usable; any other
// error leaves the decoder refusing every later block.
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../../../src/transport/h2/hpack/huffman-table.js";
import { STATIC_TABLE } from "../../../../src/transport/h2/hpack/static-table.js";
import type { HeaderField } from "../../../../src/transport/h2/hpack/decoder.js";

export interface ModelLimits {
  readonly maxTableSize: number;
  readonly maxHeaderListSize: number;
  readonly maxStringLength: number;
}

export type ModelOutcome = { ok: true; fields: HeaderField[] } | { ok: false; inSync: boolean; delivered: HeaderField[] };

class Malformed extends Error {}

const EOS = 256;
/** "length:code" -> symbol. */
const CODE_TO_SYMBOL = new Map<string, number>(HUFFMAN_CODES.map((code, sym) => [`${HUFFMAN_LENGTHS[sym]}:${code}`, sym]));

/** Decodes a Huffman string literal's octets; undefined where RFC 7541 section 5.2 says it is malformed. */
export function referenceHuffman(octets: Uint8Array): string | undefined {
  try {
    return huffman(octets);
  } catch (err) {
    if (err instanceof Malformed) return undefined;
    throw err;
  }
}

function huffman(octets: Uint8Array): string {
  let out = "";
  let code = 0;
  let length = 0;
  for (const octet of octets) {
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((octet >> bit) & 1);
      length++;
      const sym = CODE_TO_SYMBOL.get(`${length}:${code}`);
      if (sym === undefined) continue;
      if (sym === EOS) throw new Malformed("EOS in a string");
      out += String.fromCharCode(sym);
      code = 0;
      length = 0;
    }
  }
  // Section 5.2: at most 7 bits of padding, all ones (a prefix of EOS).
  if (length > 7 || code !== 2 ** length - 1) throw new Malformed("bad padding");
  return out;
}

export class ModelDecoder {
  /** Newest first: dynamic index 1 is entries[0]. */
  entries: [string, string][] = [];
  maxSize: number;
  private limit: number;
  private failed = false;
  private updateRequired = false;
  private readonly maxList: number;
  private readonly maxString: number;

  constructor(limits: ModelLimits) {
    this.limit = this.maxSize = limits.maxTableSize;
    this.maxList = limits.maxHeaderListSize;
    this.maxString = limits.maxStringLength;
  }

  get size(): number {
    return this.entries.reduce((n, [name, value]) => n + 32 + name.length + value.length, 0);
  }

  setLimit(limit: number): void {
    this.limit = limit;
    if (limit < this.maxSize) this.updateRequired = true;
  }

  decode(block: Uint8Array): ModelOutcome {
    const delivered: HeaderField[] = [];
    if (this.failed) return { ok: false, inSync: false, delivered };
    try {
      const overLimit = this.run(block, delivered);
      if (overLimit) return { ok: false, inSync: true, delivered };
      return { ok: true, fields: delivered };
    } catch (err) {
      if (!(err instanceof Malformed)) throw err;
      this.failed = true;
      return { ok: false, inSync: false, delivered };
    }
  }

  /** Returns whether the header list went over the limit. */
  private run(block: Uint8Array, delivered: HeaderField[]): boolean {
    let pos = 0;
    const integer = (prefixBits: number): number => {
      if (pos >= block.length) throw new Malformed("truncated integer");
      const max = 2 ** prefixBits - 1;
      let value = BigInt(block[pos++]! & max);
      if (value < BigInt(max)) return Number(value);
      for (let m = 0n; ; m += 7n) {
        if (m > 28n) throw new Malformed("too many continuation octets");
        if (pos >= block.length) throw new Malformed("truncated integer");
        const b = block[pos++]!;
        value += BigInt(b & 0x7f) << m;
        if (value > 0x7fffffffn) throw new Malformed("integer above 2^31-1");
        if ((b & 0x80) === 0) return Number(value);
      }
    };
    const rawString = (): { octets: Uint8Array; huffman: boolean } => {
      if (pos >= block.length) throw new Malformed("truncated string");
      const isHuffman = (block[pos]! & 0x80) !== 0;
      const length = integer(7);
      if (length > block.length - pos) throw new Malformed("string past the end");
      const octets = block.subarray(pos, pos + length);
      pos += length;
      return { octets, huffman: isHuffman };
    };
    const string = (): string => {
      const { octets, huffman: isHuffman } = rawString();
      const s = isHuffman ? huffman(octets) : String.fromCharCode(...octets);
      if (s.length > this.maxString) throw new Malformed("string too long");
      return s;
    };
    const entry = (index: number): readonly [string, string] => {
      if (index === 0) throw new Malformed("index 0");
      const e = index <= STATIC_TABLE.length ? STATIC_TABLE[index - 1] : this.entries[index - STATIC_TABLE.length - 1];
      if (e === undefined) throw new Malformed("index beyond the tables");
      return e;
    };

    if (this.updateRequired && (block.length === 0 || (block[0]! & 0xe0) !== 0x20)) throw new Malformed("size update missing");
    let listSize = 0;
    let overLimit = false;
    let fieldSeen = false;
    let updates = 0;
    const deliver = (name: string, value: string, neverIndexed: boolean): void => {
      listSize += 32 + name.length + value.length;
      if (listSize > this.maxList) overLimit = true;
      if (!overLimit) delivered.push([name, value, neverIndexed]);
    };
    while (pos < block.length) {
      const b = block[pos]!;
      if (b & 0x80) {
        const [name, value] = entry(integer(7));
        fieldSeen = true;
        if (!overLimit) deliver(name, value, false);
      } else if (b & 0x40) {
        const nameIndex = integer(6);
        const name = nameIndex === 0 ? string() : entry(nameIndex)[0];
        const value = string();
        fieldSeen = true;
        this.add(name, value);
        if (!overLimit) deliver(name, value, false);
      } else if (b & 0x20) {
        if (fieldSeen) throw new Malformed("size update after a field");
        if (++updates > 2) throw new Malformed("more than two size updates");
        const size = integer(5);
        if (size > this.limit) throw new Malformed("size update above the limit");
        this.maxSize = size;
        this.evictTo(size);
        this.updateRequired = false;
      } else {
        const neverIndexed = (b & 0x10) !== 0;
        const nameIndex = integer(4);
        fieldSeen = true;
        if (overLimit) {
          if (nameIndex === 0) rawString();
          else entry(nameIndex);
          rawString();
          continue;
        }
        const name = nameIndex === 0 ? string() : entry(nameIndex)[0];
        deliver(name, string(), neverIndexed);
      }
    }
    return overLimit;
  }

  private add(name: string, value: string): void {
    const size = 32 + name.length + value.length;
    this.evictTo(this.maxSize - size);
    if (size <= this.maxSize) this.entries.unshift([name, value]);
  }

  private evictTo(target: number): void {
    while (this.entries.length > 0 && this.size > target) this.entries.pop();
  }
}
