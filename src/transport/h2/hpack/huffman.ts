// RFC 7541 section 5.2 / Appendix B Huffman coding of header strings (octets carried in
// JS strings as latin1, one char per octet).
//
// Decoding is a byte-at-a-time state machine built once at module load: the 256 internal
// nodes of the code tree are the states, and for each (state, input byte) one Uint32 says
// the next state, the 0-2 symbols completed on the way and whether EOS was crossed. A
// string costs one table load per input byte, no per-bit branching and no allocation but
// the result string.

import { InternalError } from "../../../core/errors.js";
import { HpackError } from "./errors.js";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "./huffman-table.js";

const EOS = 256;
const CODES = Uint32Array.from(HUFFMAN_CODES);
const LENGTHS = Uint8Array.from(HUFFMAN_LENGTHS);

// Transition entry layout: bits 0-7 next state, 8-9 symbol count, 10-17 first symbol,
// 18-25 second symbol, 26 EOS seen (always an error in a string).
const COUNT_SHIFT = 8;
const SYM1_SHIFT = 10;
const SYM2_SHIFT = 18;
const FAIL = 1 << 26;

interface DecodeTables {
  readonly transitions: Uint32Array;
  /** States where the input may end: the root, or 1..7 one-bits into the all-ones EOS path. */
  readonly accepting: Uint8Array;
}

function buildDecodeTables(): DecodeTables {
  // child[node * 2 + bit]: > 0 internal node id, < 0 leaf -(symbol + 1), 0 unset (the root,
  // node 0, is never a child).
  const child = new Int32Array(512);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = CODES[sym] ?? 0;
    const len = LENGTHS[sym] ?? 0;
    let node = 0;
    for (let i = len - 1; i > 0; i--) {
      const slot = node * 2 + ((code >>> i) & 1);
      if (child[slot] === 0) child[slot] = nodes++;
      node = child[slot] ?? 0;
    }
    child[node * 2 + (code & 1)] = -(sym + 1);
  }
  if (nodes !== 256) throw new InternalError(`Huffman table is not a complete code (${nodes} internal nodes)`);

  const accepting = new Uint8Array(256);
  let onesPath = 0;
  accepting[0] = 1;
  for (let depth = 1; depth <= 7; depth++) {
    onesPath = child[onesPath * 2 + 1] ?? 0;
    accepting[onesPath] = 1;
  }

  const transitions = new Uint32Array(256 * 256);
  for (let state = 0; state < 256; state++) {
    for (let byte = 0; byte < 256; byte++) {
      let node = state;
      let count = 0;
      let entry = 0;
      for (let bit = 7; bit >= 0; bit--) {
        const next = child[node * 2 + ((byte >>> bit) & 1)] ?? 0;
        if (next >= 0) {
          node = next;
          continue;
        }
        const sym = -next - 1;
        if (sym === EOS) {
          entry |= FAIL;
          break;
        }
        entry |= sym << (count === 0 ? SYM1_SHIFT : SYM2_SHIFT);
        count++;
        node = 0;
      }
      transitions[(state << 8) | byte] = entry | (count << COUNT_SHIFT) | node;
    }
  }
  return { transitions, accepting };
}

const { transitions: TRANSITIONS, accepting: ACCEPTING } = buildDecodeTables();

// Decoded octets land here before becoming one latin1 string; grown, never shrunk, and
// bounded by the decoder's maximum string length.
let scratch = Buffer.allocUnsafe(4096);

/**
 * Decodes src[start, end) into a latin1 string of at most maxLength chars.
 * Throws HpackError huffman_eos, huffman_padding or string_too_long.
 */
export function huffmanDecode(src: Uint8Array, start: number, end: number, maxLength: number): string {
  // Each symbol takes at least 5 bits, so the output is at most 8/5 of the input.
  const bound = Math.min(maxLength, Math.floor(((end - start) * 8) / 5)) + 2;
  if (scratch.length < bound) scratch = Buffer.allocUnsafe(Math.max(bound, scratch.length * 2));
  const out = scratch;
  let state = 0;
  let o = 0;
  for (let i = start; i < end; i++) {
    const e = TRANSITIONS[(state << 8) | (src[i] ?? 0)] ?? FAIL;
    if ((e & FAIL) !== 0) throw new HpackError("huffman_eos", "EOS symbol inside a Huffman string");
    const count = (e >>> COUNT_SHIFT) & 3;
    if (count !== 0) {
      out[o++] = (e >>> SYM1_SHIFT) & 0xff;
      if (count === 2) out[o++] = (e >>> SYM2_SHIFT) & 0xff;
      if (o > maxLength) throw new HpackError("string_too_long", `Huffman string longer than ${maxLength} octets`);
    }
    state = e & 0xff;
  }
  if (ACCEPTING[state] !== 1) {
    throw new HpackError("huffman_padding", "Huffman padding longer than 7 bits or not all ones");
  }
  return out.toString("latin1", 0, o);
}

/** Length in octets of s Huffman-encoded; -1 when s holds a char above 0xff (not an octet). */
export function huffmanEncodedLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) return -1;
    bits += LENGTHS[c] ?? 0;
  }
  return (bits + 7) >>> 3;
}

/**
 * Writes s (latin1 octets, checked by huffmanEncodedLength) Huffman-encoded at out[offset]
 * and returns the offset after it. out must have huffmanEncodedLength(s) octets free.
 */
export function huffmanEncode(s: string, out: Uint8Array, offset: number): number {
  // acc holds at most 31 pending bits: fewer than 8 left over plus one code of up to 24
  // bits; the few longer codes go in two pieces.
  let acc = 0;
  let bits = 0;
  let o = offset;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const code = CODES[c] ?? 0;
    const len = LENGTHS[c] ?? 0;
    if (len > 24) {
      const high = len - 16;
      acc = (acc << high) | (code >>> 16);
      bits += high;
      while (bits >= 8) {
        bits -= 8;
        out[o++] = acc >>> bits;
      }
      acc = (acc << 16) | (code & 0xffff);
      bits += 16;
    } else {
      acc = (acc << len) | code;
      bits += len;
    }
    while (bits >= 8) {
      bits -= 8;
      out[o++] = acc >>> bits;
    }
    acc &= (1 << bits) - 1;
  }
  // Pad with the most significant bits of EOS (all ones).
  if (bits > 0) out[o++] = (acc << (8 - bits)) | (0xff >>> bits);
  return o;
}
