// Byte-level mutations of valid input, as fast-check arbitraries so failures shrink to the
// fewest, smallest edits. Positions are plain naturals taken modulo the input length, so
// one mutation list applies to any input.
import fc from "fast-check";

export type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly bit: number }
  | { readonly kind: "set"; readonly at: number; readonly value: number }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "delete"; readonly at: number; readonly count: number }
  | { readonly kind: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly kind: "duplicate"; readonly at: number; readonly count: number; readonly to: number }
  /** Frame streams only: overwrite frame `frame`'s 24-bit Length, or shift it by `delta`. */
  | { readonly kind: "length"; readonly frame: number; readonly length: number }
  | { readonly kind: "length-delta"; readonly frame: number; readonly delta: number };

const at = fc.nat();

const byteMutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant("flip" as const), at, bit: fc.integer({ min: 0, max: 7 }) }), weight: 4 },
  fc.record({ kind: fc.constant("set" as const), at, value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at }),
  fc.record({ kind: fc.constant("delete" as const), at, count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant("insert" as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant("duplicate" as const), at, count: fc.integer({ min: 1, max: 32 }), to: fc.nat() }),
);

const lengthMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("length" as const),
    frame: fc.nat(),
    length: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 16_384 }), fc.integer({ min: 16_385, max: 0xff_ffff })),
  }),
  fc.record({ kind: fc.constant("length-delta" as const), frame: fc.nat(), delta: fc.integer({ min: -9, max: 9 }).filter((d) => d !== 0) }),
);

/** 1..maxCount mutations for an opaque byte string (an HPACK block). */
export function byteMutations(maxCount = 4): fc.Arbitrary<Mutation[]> {
  return fc.array(byteMutation, { minLength: 1, maxLength: maxCount });
}

/** 1..maxCount mutations for a frame stream, length-field corruption included. */
export function frameMutations(maxCount = 4): fc.Arbitrary<Mutation[]> {
  return fc.array(fc.oneof({ arbitrary: byteMutation, weight: 3 }, { arbitrary: lengthMutation, weight: 2 }), {
    minLength: 1,
    maxLength: maxCount,
  });
}

/**
 * Applies `mutations` to `input`. `frameStarts` are the offsets of frame headers in input:
 * length corruptions use them and run first, while the layout is still the original one.
 */
export function mutate(input: Uint8Array, mutations: readonly Mutation[], frameStarts: readonly number[] = []): Buffer {
  let out = Buffer.from(input);
  for (const m of mutations) {
    if (m.kind !== "length" && m.kind !== "length-delta") continue;
    if (frameStarts.length === 0) continue;
    const start = frameStarts[m.frame % frameStarts.length]!;
    if (start + 3 > out.length) continue;
    const old = out.readUIntBE(start, 3);
    const length = m.kind === "length" ? m.length : Math.min(0xff_ffff, Math.max(0, old + m.delta));
    out.writeUIntBE(length, start, 3);
  }
  for (const m of mutations) {
    const n = out.length;
    switch (m.kind) {
      case "flip":
        if (n > 0) out[m.at % n]! ^= 1 << m.bit;
        break;
      case "set":
        if (n > 0) out[m.at % n] = m.value;
        break;
      case "truncate":
        out = out.subarray(0, m.at % (n + 1));
        break;
      case "delete": {
        const p = m.at % (n + 1);
        out = Buffer.concat([out.subarray(0, p), out.subarray(p + m.count)]);
        break;
      }
      case "insert": {
        const p = m.at % (n + 1);
        out = Buffer.concat([out.subarray(0, p), m.bytes, out.subarray(p)]);
        break;
      }
      case "duplicate": {
        const p = m.at % (n + 1);
        const to = m.to % (n + 1);
        out = Buffer.concat([out.subarray(0, to), out.subarray(p, p + m.count), out.subarray(to)]);
        break;
      }
      default:
        break; // length corruptions were applied above
    }
  }
  return out;
}

/** Sorted, distinct cut offsets in 1..length-1 from arbitrary naturals. */
export function cutsFor(length: number, raw: readonly number[]): number[] {
  if (length < 2) return [];
  return [...new Set(raw.map((r) => 1 + (r % (length - 1))))].sort((a, b) => a - b);
}
