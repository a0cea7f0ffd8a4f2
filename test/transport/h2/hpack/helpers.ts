// Shared by the HPACK tests: hex in the RFC's "8286 8441" layout, and a seeded PRNG so
// random cases repeat on every run.
import { seededRandom } from "../../../../src/core/random.js";

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ""), "hex");
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** The project's seeded PRNG (src/core/random.ts), under the name these tests use. */
export const prng = seededRandom;

export function randomLatin1(rand: () => number, length: number, alphabet?: string): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    s += alphabet === undefined ? String.fromCharCode(Math.floor(rand() * 256)) : alphabet.charAt(Math.floor(rand() * alphabet.length));
  }
  return s;
}
