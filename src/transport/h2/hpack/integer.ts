// RFC 7541 section 5.1 prefix integers. Every integer in HPACK is an index, a length or a
// table size, so anything above 2^31 - 1 is hostile: the guard stops decoding there, which
// also bounds the number of continuation octets (zero-valued ones included) to five.

import { HpackError } from "./errors.js";

export const MAX_INTEGER = 0x7fffffff;

/** A read position the decoder shares with the integer and string readers (no tuples). */
export interface Cursor {
  pos: number;
}

/**
 * Reads the integer whose first octet is src[cursor.pos] (its top 8 - prefixBits bits
 * belong to the caller) and leaves cursor.pos after it.
 */
export function decodeInteger(src: Uint8Array, cursor: Cursor, end: number, prefixBits: number): number {
  let pos = cursor.pos;
  if (pos >= end) throw new HpackError("truncated", "block ends before an integer");
  const max = (1 << prefixBits) - 1;
  let value = (src[pos++] ?? 0) & max;
  if (value < max) {
    cursor.pos = pos;
    return value;
  }
  let shift = 0;
  for (;;) {
    if (pos >= end) throw new HpackError("truncated", "block ends inside an integer");
    const b = src[pos++] ?? 0;
    // Multiplication, not <<, so the sum cannot wrap before the check.
    value += (b & 0x7f) * 2 ** shift;
    if (value > MAX_INTEGER) throw new HpackError("integer_overflow", "integer above 2^31 - 1");
    if ((b & 0x80) === 0) break;
    shift += 7;
    if (shift > 28) throw new HpackError("integer_overflow", "integer with too many continuation octets");
  }
  cursor.pos = pos;
  return value;
}

/** Octets encodeInteger writes for value. */
export function integerLength(value: number, prefixBits: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) return 1;
  let n = 2;
  for (let rest = value - max; rest >= 0x80; rest >>>= 7) n++;
  return n;
}

/**
 * Writes value with a prefixBits-bit prefix at out[offset]; flags are the first octet's
 * high bits (the representation type). Returns the offset after it.
 */
export function encodeInteger(out: Uint8Array, offset: number, value: number, prefixBits: number, flags: number): number {
  const max = (1 << prefixBits) - 1;
  let o = offset;
  if (value < max) {
    out[o++] = flags | value;
    return o;
  }
  out[o++] = flags | max;
  let rest = value - max;
  while (rest >= 0x80) {
    out[o++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[o++] = rest;
  return o;
}
