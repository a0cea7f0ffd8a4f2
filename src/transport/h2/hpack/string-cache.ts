// Decoded header strings repeat across requests and connections (names sent as literals,
// like grpc-timeout; values such as content types and short ids), while creating a JS
// string from octets costs a trip into C++ (~150-250 ns here) that hashing and comparing a
// few octets in JS does not. So short literals are looked up in one process-wide,
// direct-mapped cache keyed by their encoded octets (raw or Huffman, told apart): strings
// are immutable, so sharing across connections is safe, and a colliding entry is simply
// replaced, so hostile input can cost at most the uncached path plus a hash.

const SLOTS = 1024; // power of two
/** Longer strings are rarer to repeat and costlier to compare; they go uncached. */
export const MAX_CACHED_OCTETS = 40;
const STRIDE = MAX_CACHED_OCTETS + 1; // one tag octet, then the key

// Slot s: keys[s * STRIDE] = tag (0 empty, 1 + length, +128 when Huffman), then the octets.
const keys = new Uint8Array(SLOTS * STRIDE);
const values: string[] = new Array<string>(SLOTS).fill("");

function slotOf(src: Uint8Array, start: number, end: number, tag: number): number {
  let h = Math.imul(0x811c9dc5 ^ tag, 16777619); // FNV-1a
  for (let i = start; i < end; i++) h = Math.imul(h ^ (src[i] ?? 0), 16777619);
  return ((h ^ (h >>> 15)) & (SLOTS - 1)) * STRIDE;
}

/** The string cached for src[start, end) (end - start <= MAX_CACHED_OCTETS), or undefined. */
export function lookup(src: Uint8Array, start: number, end: number, huffman: boolean): string | undefined {
  const tag = 1 + (end - start) + (huffman ? 128 : 0);
  const base = slotOf(src, start, end, tag);
  if (keys[base] !== tag) return undefined;
  for (let i = start, k = base + 1; i < end; i++, k++) if (keys[k] !== src[i]) return undefined;
  return values[base / STRIDE];
}

/** Remembers value as the decoding of src[start, end); call only after decoding succeeded. */
export function store(src: Uint8Array, start: number, end: number, huffman: boolean, value: string): void {
  const tag = 1 + (end - start) + (huffman ? 128 : 0);
  const base = slotOf(src, start, end, tag);
  keys[base] = tag;
  for (let i = start, k = base + 1; i < end; i++, k++) keys[k] = src[i] ?? 0;
  values[base / STRIDE] = value;
}
