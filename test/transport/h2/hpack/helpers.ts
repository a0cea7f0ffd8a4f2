// Shared by the HPACK tests: hex in the RFC's "8286 8441" layout, and a seeded PRNG so
// random cases repeat on every run.

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ""), "hex");
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomLatin1(rand: () => number, length: number, alphabet?: string): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    s += alphabet === undefined
      ? String.fromCharCode(Math.floor(rand() * 256))
      : alphabet.charAt(Math.floor(rand() * alphabet.length));
  }
  return s;
}
