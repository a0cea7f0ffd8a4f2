// Header lists for the HPACK fuzz tests: names and values biased towards the static table
// and gRPC's usual fields (so indexed and name-indexed representations occur), sensitive
// names, arbitrary latin1 octets, and values long enough to overflow small tables. Blocks
// draw from a shared pool so later blocks hit entries earlier ones put in the dynamic table.
import fc from "fast-check";
import type { FieldInput } from "../../../../src/transport/h2/hpack/encoder.js";
import { STATIC_TABLE } from "../../../../src/transport/h2/hpack/static-table.js";

const latin1Char = fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c));
const latin1 = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: latin1Char, maxLength });

const KNOWN_NAMES = [
  ...new Set(STATIC_TABLE.map(([name]) => name)),
  "te",
  "grpc-status",
  "grpc-message",
  "grpc-timeout",
  "grpc-encoding",
  "x-request-id",
  "proxy-authorization",
];
const KNOWN_VALUES = [...new Set(STATIC_TABLE.map(([, value]) => value)), "application/grpc", "trailers", "0", "identity,gzip"];

const name = fc.oneof(
  { arbitrary: fc.constantFrom(...KNOWN_NAMES), weight: 3 },
  fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz-_0123456789"), minLength: 1, maxLength: 16 }),
  latin1(12),
);
const value = fc.oneof(
  { arbitrary: fc.constantFrom(...KNOWN_VALUES), weight: 3 },
  { arbitrary: latin1(24), weight: 3 },
  // Longer than 3/4 of a small table, or than the whole of one: not indexed, or evicts all.
  latin1(400),
  // Past the encoder's first 4 KiB buffer and the Huffman decoder's scratch (repeated: cheap).
  fc.tuple(latin1(16), fc.integer({ min: 1, max: 600 })).map(([s, n]) => s.repeat(n)),
);

export const field: fc.Arbitrary<FieldInput> = fc.tuple(name, value, fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, fc.constant(true)));

/** 1..maxBlocks header lists of up to 10 fields, reusing fields across blocks. */
export function headerLists(maxBlocks: number): fc.Arbitrary<FieldInput[][]> {
  return fc
    .array(field, { minLength: 1, maxLength: 8 })
    .chain((pool) => fc.array(fc.array(fc.oneof(fc.constantFrom(...pool), field), { maxLength: 10 }), { minLength: 1, maxLength: maxBlocks }));
}

/** SETTINGS_HEADER_TABLE_SIZE values: 0, tiny, protocol default, above it. */
export const tableSize = fc.oneof(fc.constantFrom(0, 1, 32, 64, 100, 256, 4096, 8192), fc.integer({ min: 0, max: 10_000 }));

/** An encoder's own cap on its dynamic table (undefined: the default, 4096). */
export const encoderCap = fc.option(fc.constantFrom(0, 100, 1000, 4096, 8192), { nil: undefined });

/** A string literal as sent: raw or Huffman, optionally with its octets or length spoiled. */
interface WireString {
  readonly s: string;
  readonly huffman: boolean;
  /** "ff"/"00": an octet appended (8+ padding bits; a stray zero); "flip": last octet's low bit flipped. */
  readonly tweak: "none" | "ff" | "00" | "flip";
  /** Added to the declared length, so the string overlaps what follows or stops short. */
  readonly lengthDelta: number;
}

/** One header block representation (RFC 7541 section 6), or junk octets. */
export type Representation =
  | { readonly t: "indexed"; readonly index: number }
  | {
      readonly t: "literal";
      readonly mode: "incremental" | "without" | "never";
      readonly nameIndex: number;
      readonly name: WireString;
      readonly value: WireString;
    }
  | { readonly t: "size"; readonly size: number }
  | { readonly t: "junk"; readonly octets: Uint8Array };

// Each kind of damage is rare per representation, so most blocks decode (or go over a
// limit) and a block's fields meet the table state the earlier blocks left.
const wireString = (text: fc.Arbitrary<string>): fc.Arbitrary<WireString> =>
  fc.record({
    s: text,
    huffman: fc.boolean(),
    tweak: fc.oneof({ arbitrary: fc.constant("none" as const), weight: 60 }, fc.constantFrom("ff" as const, "00" as const, "flip" as const)),
    lengthDelta: fc.oneof({ arbitrary: fc.constant(0), weight: 80 }, fc.integer({ min: -2, max: 2 })),
  });

/** Mostly valid: static indices, then the newest dynamic ones; rarely 0 or far out. */
const index = fc.oneof(
  { arbitrary: fc.integer({ min: 1, max: 61 }), weight: 80 },
  { arbitrary: fc.integer({ min: 62, max: 65 }), weight: 8 },
  fc.constant(0),
  fc.integer({ min: 66, max: 0x7fff_ffff }),
);

/** Mostly within the default SETTINGS_HEADER_TABLE_SIZE; rarely anything up to 2^31-1. */
const sizeUpdate = fc.record({
  t: fc.constant("size" as const),
  size: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 4096 }), weight: 10 }, { arbitrary: tableSize, weight: 5 }, fc.integer({ min: 0, max: 0x7fff_ffff })),
});

const fieldRepresentation: fc.Arbitrary<Representation> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant("indexed" as const), index }), weight: 40 },
  {
    arbitrary: fc.record({
      t: fc.constant("literal" as const),
      mode: fc.constantFrom("incremental" as const, "without" as const, "never" as const),
      nameIndex: fc.oneof(fc.constant(0), index),
      name: wireString(fc.oneof(name, latin1(60))),
      value: wireString(fc.oneof(value, latin1(120))),
    }),
    weight: 60,
  },
  // Out of place: a size update after a field, or octets that are no representation.
  sizeUpdate,
  fc.record({ t: fc.constant("junk" as const), octets: fc.uint8Array({ minLength: 1, maxLength: 6 }) }),
);

/** A header block: usually no size update, else one or two (rarely an illegal third), then up to 8 fields. */
export const representations: fc.Arbitrary<Representation[]> = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.constant([]), weight: 6 },
      { arbitrary: fc.array(sizeUpdate, { minLength: 1, maxLength: 2 }), weight: 3 },
      fc.array(sizeUpdate, { minLength: 3, maxLength: 3 }),
    ),
    fc.array(fieldRepresentation, { maxLength: 8 }),
  )
  .map(([updates, fields]) => [...updates, ...fields]);
