// Property-based fuzzing of the HPACK codec. The decoder gets arbitrary octets, encoder
// output with byte-level mutations, and blocks built representation by representation
// (some malformed), under random limits. Whatever it is fed it returns fields or throws
// HpackError (nothing else), never delivers a header list over maxHeaderListSize, keeps its
// dynamic table within its maximum size (itself within our SETTINGS_HEADER_TABLE_SIZE after
// each good block), and agrees with a plain reference decoder (hpack-model.ts) on fields,
// errors and table contents. Encoder to decoder round trips over several blocks, with
// never-indexed fields and table size changes in between, give back the header lists and
// leave both dynamic tables identical. Huffman decoding and the dynamic table are also
// checked on their own against reference implementations, with inputs aimed at their
// edges (padding, exact-fit entries).
import assert from "node:assert/strict";
import fc from "fast-check";
import { type HeaderField, HpackDecoder, type HpackDecoderOptions } from "../../../../src/transport/h2/hpack/decoder.js";
import { encodeStatic, type FieldInput, HpackEncoder } from "../../../../src/transport/h2/hpack/encoder.js";
import { DynamicTable } from "../../../../src/transport/h2/hpack/dynamic-table.js";
import { HpackError } from "../../../../src/transport/h2/hpack/errors.js";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "../../../../src/transport/h2/hpack/huffman.js";
import { STATIC_TABLE } from "../../../../src/transport/h2/hpack/static-table.js";
import { encoderCap, headerLists, representations, tableSize } from "./hpack-arbitraries.js";
import { ModelDecoder, type ModelOutcome, referenceHuffman } from "./hpack-model.js";
import { serialise } from "./hpack-wire.js";
import { isolatedFuzz } from "./isolated.js";
import { byteMutations, mutate } from "./mutations.js";

const fuzz = isolatedFuzz(import.meta.url);

interface Limits {
  readonly maxTableSize: number;
  readonly maxHeaderListSize: number;
  readonly maxStringLength: number;
}

/** The decoder's limits with its defaults filled in. */
function limitsOf(o: HpackDecoderOptions): Limits {
  const maxHeaderListSize = o.maxHeaderListSize ?? 65536;
  return { maxTableSize: o.maxTableSize ?? 4096, maxHeaderListSize, maxStringLength: o.maxStringLength ?? maxHeaderListSize };
}

/** Small limits, so every limit is reached; undefined keeps the decoder's default. */
const decoderOptions: fc.Arbitrary<HpackDecoderOptions> = fc.record({
  maxTableSize: fc.option(tableSize, { nil: undefined }),
  maxHeaderListSize: fc.option(fc.oneof(fc.constantFrom(0, 40, 100, 1000), fc.integer({ min: 0, max: 5000 })), { nil: undefined }),
  maxStringLength: fc.option(fc.integer({ min: 0, max: 300 }), { nil: undefined }),
});

type Outcome = { ok: true; fields: HeaderField[] } | { ok: false; error: HpackError; delivered: HeaderField[] };

/** maxStringLength limits string literals; static table strings (and entries naming them) may be longer. */
const LONGEST_STATIC = Math.max(...STATIC_TABLE.flat().map((s) => s.length));

const listSize = (fields: readonly HeaderField[]): number => fields.reduce((n, [name, value]) => n + 32 + name.length + value.length, 0);
const isLatin1 = (s: string): boolean => [...s].every((ch) => ch.charCodeAt(0) <= 0xff);

/** Decodes one block and checks every invariant that holds whatever the input was. */
function decodeChecked(decoder: HpackDecoder, block: Uint8Array, limits: Limits, start?: number, end?: number): Outcome {
  const delivered: HeaderField[] = [];
  let outcome: Outcome;
  try {
    decoder.decodeEach(block, (name, value, neverIndexed) => delivered.push([name, value, neverIndexed]), start, end);
    outcome = { ok: true, fields: delivered };
  } catch (err) {
    assert.ok(err instanceof HpackError, `threw ${String(err)} (not an HpackError)`);
    // Only an oversized list is decoded to the end, keeping the table usable.
    assert.equal(err.tableInSync, err.reason === "header_list_too_large", `tableInSync for ${err.reason}`);
    outcome = { ok: false, error: err, delivered };
  }
  // Fields delivered before an error count too: the limit is on what the caller receives.
  assert.ok(listSize(delivered) <= limits.maxHeaderListSize, `header list of ${listSize(delivered)} > ${limits.maxHeaderListSize}`);
  const longest = Math.max(limits.maxStringLength, LONGEST_STATIC);
  for (const [name, value] of delivered) {
    assert.ok(name.length <= longest && value.length <= longest, "string over maxStringLength");
    assert.ok(isLatin1(name) && isLatin1(value), "strings carry octets");
  }
  checkTable(decoder, limits.maxTableSize, outcome.ok);
  return outcome;
}

/** Size is the sum of entry sizes and within the maximum; after a good block the maximum is within our limit. */
function checkTable(decoder: HpackDecoder, limit: number, blockDecoded: boolean): void {
  const table = decoder.table;
  const entries = table.entries();
  assert.equal(entries.length, table.length);
  assert.equal(
    table.size,
    entries.reduce((n, [name, value]) => n + 32 + name.length + value.length, 0),
    "size is the sum of entry sizes",
  );
  assert.ok(table.size <= table.maxSize, `table of ${table.size} octets over its maximum ${table.maxSize}`);
  if (blockDecoded) assert.ok(table.maxSize <= limit, `table maximum ${table.maxSize} over SETTINGS_HEADER_TABLE_SIZE ${limit}`);
}

/** Decodes blocks in order on one decoder; a broken decoder must refuse the rest. */
function decodeAll(blocks: readonly Uint8Array[], options: HpackDecoderOptions): void {
  const decoder = new HpackDecoder(options);
  const limits = limitsOf(options);
  let broken = false;
  for (const block of blocks) {
    const outcome = decodeChecked(decoder, block, limits);
    if (broken) assert.ok(!outcome.ok && outcome.error.reason === "decoder_failed", "a failed decoder refuses further blocks");
    if (!outcome.ok && !outcome.error.tableInSync) broken = true;
  }
}

const summary = (o: Outcome): unknown => (o.ok ? o.fields : { reason: o.error.reason, delivered: o.delivered });

fuzz("decoder: arbitrary octets decode or throw HpackError within every limit", 800, () =>
  fc.property(fc.array(fc.uint8Array({ maxLength: 120 }), { minLength: 1, maxLength: 4 }), decoderOptions, (blocks, options) => {
    decodeAll(blocks, options);
  }),
);

fuzz("decoder: mutated encoder output decodes or throws HpackError within every limit", 600, () =>
  fc.property(
    headerLists(4),
    encoderCap,
    fc.boolean(),
    fc.record({ at: fc.nat(), mutations: byteMutations() }),
    decoderOptions,
    (lists, cap, huffman, damage, options) => {
      // One block mutated: those before it build table state, those after it meet the
      // table it left (or a decoder that refuses them).
      const encoder = new HpackEncoder({ maxTableSize: cap, huffman });
      const blocks = lists.map((list, i) => {
        const block = encoder.encode(list);
        return i === damage.at % lists.length ? mutate(block, damage.mutations) : block;
      });
      decodeAll(blocks, options);
    },
  ),
);

fuzz("decoder: a block inside a larger buffer, as Buffer or Uint8Array, decodes the same", 300, () =>
  fc.property(
    headerLists(3),
    fc.array(byteMutations(2), { maxLength: 3 }),
    fc.uint8Array({ maxLength: 8 }),
    fc.uint8Array({ maxLength: 8 }),
    decoderOptions,
    (lists, mutations, before, after, options) => {
      const encoder = new HpackEncoder();
      const blocks = lists.map((list, i) => {
        const block = encoder.encode(list);
        const m = mutations[i];
        return m === undefined ? block : mutate(block, m);
      });
      const limits = limitsOf(options);
      const bare = new HpackDecoder(options);
      const embedded = new HpackDecoder(options);
      for (const block of blocks) {
        const outer = new Uint8Array(before.length + block.length + after.length);
        outer.set(before, 0);
        outer.set(block, before.length);
        outer.set(after, before.length + block.length);
        const a = decodeChecked(bare, block, limits);
        const b = decodeChecked(embedded, outer, limits, before.length, before.length + block.length);
        assert.deepEqual(summary(b), summary(a));
      }
      assert.deepEqual(embedded.table.entries(), bare.table.entries());
    },
  ),
);

const asModel = (o: Outcome): ModelOutcome => (o.ok ? o : { ok: false, inSync: o.error.tableInSync, delivered: o.delivered });

fuzz("decoder: agrees with a reference decoder on structured blocks, malformed ones included", 800, () =>
  fc.property(
    fc.array(fc.record({ limit: fc.option(tableSize, { nil: undefined, freq: 4 }), reps: representations }), {
      minLength: 1,
      maxLength: 4,
    }),
    decoderOptions,
    (blocks, options) => {
      const limits = limitsOf(options);
      const decoder = new HpackDecoder(options);
      const model = new ModelDecoder(limits);
      let tableLimit = limits.maxTableSize;
      for (const { limit, reps } of blocks) {
        if (limit !== undefined) {
          // A new SETTINGS_HEADER_TABLE_SIZE of ours, acknowledged.
          decoder.setMaxTableSizeLimit(limit);
          model.setLimit(limit);
          tableLimit = limit;
        }
        const block = serialise(reps);
        const want = model.decode(block);
        assert.deepEqual(asModel(decodeChecked(decoder, block, { ...limits, maxTableSize: tableLimit })), want);
        if (want.ok || want.inSync) {
          assert.deepEqual(decoder.table.entries(), model.entries, "dynamic table");
          assert.equal(decoder.table.maxSize, model.maxSize, "dynamic table maximum size");
        }
      }
    },
  ),
);

/** Fields the encoder protects on its own (RFC 7541 section 7.1.3) come back never-indexed. */
function sentNeverIndexed([name, value, neverIndexed]: FieldInput): boolean {
  return neverIndexed === true || name === "authorization" || name === "proxy-authorization" || (name === "cookie" && value.length < 20);
}

/** A field for a block, and whether to send it as encodeStatic() bytes through raw(). */
type BlockField = readonly [field: FieldInput, precoded: boolean];
type Step = { t: "block"; fields: BlockField[] } | { t: "table"; size: number };

const steps: fc.Arbitrary<Step[]> = headerLists(6).chain((lists) =>
  fc
    .tuple(
      ...lists.map((fields) =>
        fc
          .record({
            // Our SETTINGS_HEADER_TABLE_SIZE changing (once or twice) before the block.
            changes: fc.option(fc.array(tableSize, { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 2 }),
            precoded: fc.array(fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, fc.constant(true)), {
              minLength: fields.length,
              maxLength: fields.length,
            }),
          })
          .map(({ changes, precoded }): Step[] => [
            ...(changes ?? []).map((size): Step => ({ t: "table", size })),
            { t: "block", fields: fields.map((f, j): BlockField => [f, precoded[j] ?? false]) },
          ]),
      ),
    )
    .map((groups) => groups.flat()),
);

fuzz("round trip: encoder to decoder is the identity, and both tables stay equal", 500, () =>
  fc.property(steps, encoderCap, fc.boolean(), (plan, cap, huffman) => {
    const encoder = new HpackEncoder({ maxTableSize: cap, huffman });
    // Limits that a correct encoder never trips: only the table size limit is in play.
    const decoder = new HpackDecoder({ maxHeaderListSize: 1 << 24 });
    for (const step of plan) {
      if (step.t === "table") {
        // Our SETTINGS_HEADER_TABLE_SIZE, acknowledged: the decoder allows it, the encoder follows it.
        decoder.setMaxTableSizeLimit(step.size);
        encoder.setPeerMaxTableSize(step.size);
        continue;
      }
      // The streaming form of encode(), with some fields precoded by encodeStatic().
      encoder.startBlock();
      for (const [[name, value, neverIndexed], precoded] of step.fields) {
        if (precoded) encoder.raw(encodeStatic(name, value, neverIndexed, huffman));
        else encoder.field(name, value, neverIndexed);
      }
      const block = Buffer.from(encoder.endBlock());
      // encodeStatic() sends exactly the flag it is given.
      const expected = step.fields.map(([f, precoded]): HeaderField => [f[0], f[1], precoded ? f[2] === true : sentNeverIndexed(f)]);
      assert.deepEqual(decoder.decode(block), expected);
      assert.deepEqual(decoder.table.entries(), encoder.table.entries(), "dynamic tables in step");
      assert.equal(decoder.table.maxSize, encoder.table.maxSize);
      assert.ok(decoder.table.size <= decoder.table.maxSize);
    }
  }),
);

fuzz("huffman: decoding agrees with a bitwise reference on encoder output, spoiled endings and random octets", 1000, () =>
  fc.property(
    // Printable ASCII (the short codes) or any octets (codes up to 30 bits).
    fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: fc.integer({ min: 0, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 40 })),
    fc.constantFrom("none", "ff", "00", "7f", "flip", "drop", "random"),
    fc.uint8Array({ minLength: 1, maxLength: 6 }),
    fc.option(fc.integer({ min: 0, max: 48 }), { nil: undefined }),
    (text, tweak, random, maxLength) => {
      let octets = Buffer.alloc(huffmanEncodedLength(text));
      assert.equal(huffmanEncode(text, octets, 0), octets.length);
      if (tweak === "ff" || tweak === "00" || tweak === "7f") octets = Buffer.concat([octets, Buffer.from([parseInt(tweak, 16)])]);
      else if (tweak === "flip" && octets.length > 0) octets[octets.length - 1]! ^= 1;
      else if (tweak === "drop") octets = octets.subarray(0, Math.max(0, octets.length - 1));
      else if (tweak === "random") octets = Buffer.from(random);
      const want = referenceHuffman(octets);
      if (tweak === "none") assert.equal(want, text, "reference decodes encoder output");
      const limit = maxLength ?? 1 << 20;
      const tooLong = want !== undefined && want.length > limit;
      let got: string | undefined;
      try {
        got = huffmanDecode(octets, 0, octets.length, limit);
      } catch (err) {
        assert.ok(err instanceof HpackError, `threw ${String(err)}`);
        // A malformed string may be caught by either check first.
        if (err.reason === "string_too_long") return assert.ok(want === undefined || tooLong, "string_too_long within the limit");
        got = undefined;
      }
      assert.ok(!tooLong, `decoded ${want?.length} octets, over the limit ${limit}`);
      assert.equal(got, want);
    },
  ),
);

/** Section 4: entries newest first, evicted oldest first until the table fits; an oversize entry empties it. */
fuzz("dynamic table: adds and resizes match a list model and never exceed the maximum", 600, () =>
  fc.property(
    fc.integer({ min: 0, max: 200 }),
    fc.array(fc.oneof({ arbitrary: fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 140 })), weight: 5 }, fc.integer({ min: 0, max: 240 })), {
      maxLength: 40,
    }),
    (initial, ops) => {
      const table = new DynamicTable(initial);
      let model: [string, string][] = [];
      let max = initial;
      const size = (): number => model.reduce((n, [name, value]) => n + 32 + name.length + value.length, 0);
      for (const op of ops) {
        if (typeof op === "number") {
          table.setMaxSize(op);
          max = op;
        } else {
          table.add(op[0], op[1]);
          model.unshift([op[0], op[1]]);
        }
        while (model.length > 0 && size() > max) model = model.slice(0, -1);
        assert.deepEqual(table.entries(), model);
        assert.equal(table.size, size());
        assert.ok(table.size <= table.maxSize);
      }
    },
  ),
);
