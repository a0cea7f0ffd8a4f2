// MurmurHash3 (x86, 32-bit) over the UTF-8 bytes of a string, or of a slice of it.
// Consistent hashing hashes a request key on every pick, so this must be cheap: it reads
// the string in place (no Buffer, no substring) and never uses node:crypto.
// Reference vectors: "" -> 0, "hello" -> 0x248bfa47 (seed 0).

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * 32-bit MurmurHash3 of `s.slice(start, end)` encoded as UTF-8, as an unsigned integer.
 * Lone surrogates are hashed as U+FFFD, as TextEncoder would encode them.
 */
export function hash32(s: string, seed = 0, start = 0, end = s.length): number {
  let h = seed | 0;
  let block = 0; // bytes gathered for the current 4-byte block, little-endian
  let length = 0; // bytes hashed so far
  // Each character is UTF-8 encoded into `bytes` inline: no per-byte closure, no allocation.
  for (let i = start; i < end; i++) {
    let cp = s.charCodeAt(i);
    let bytes: number; // up to 4 UTF-8 bytes packed little-endian
    let count: number;
    if (cp < 0x80) {
      bytes = cp;
      count = 1;
    } else {
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < end) {
        const lo = s.charCodeAt(i + 1);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          i++;
        } else {
          cp = 0xfffd;
        }
      } else if (cp >= 0xd800 && cp <= 0xdfff) {
        cp = 0xfffd;
      }
      if (cp < 0x800) {
        bytes = 0xc0 | (cp >> 6) | ((0x80 | (cp & 0x3f)) << 8);
        count = 2;
      } else if (cp < 0x10000) {
        bytes = 0xe0 | (cp >> 12) | ((0x80 | ((cp >> 6) & 0x3f)) << 8) | ((0x80 | (cp & 0x3f)) << 16);
        count = 3;
      } else {
        bytes = 0xf0 | (cp >> 18) | ((0x80 | ((cp >> 12) & 0x3f)) << 8) | ((0x80 | ((cp >> 6) & 0x3f)) << 16) | ((0x80 | (cp & 0x3f)) << 24);
        count = 4;
      }
    }
    for (let b = 0; b < count; b++) {
      block |= ((bytes >>> (8 * b)) & 0xff) << (8 * (length & 3));
      length++;
      if ((length & 3) === 0) {
        h = mixBlock(h, block);
        block = 0;
      }
    }
  }
  if ((length & 3) !== 0) {
    let k = Math.imul(block, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
