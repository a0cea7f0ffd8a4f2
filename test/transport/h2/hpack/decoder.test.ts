// Malformed and hostile header blocks: each must fail with its HpackError reason.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HpackDecoder, type HpackDecoderOptions } from "../../../../src/transport/h2/hpack/decoder.js";
import { HpackError, type HpackErrorReason } from "../../../../src/transport/h2/hpack/errors.js";
import { encodeInteger } from "../../../../src/transport/h2/hpack/integer.js";
import { hex } from "./helpers.js";

function sizeUpdate(size: number): string {
  const out = Buffer.alloc(8);
  return out.subarray(0, encodeInteger(out, 0, size, 5, 0x20)).toString("hex");
}

interface Case {
  name: string;
  block: string;
  reason: HpackErrorReason;
  options?: HpackDecoderOptions;
  /** Blocks decoded successfully first, on the same decoder. */
  before?: string[];
}

// "40 01 61 01 62": literal with indexing, name "a", value "b" (34 octets in the table).
const CASES: Case[] = [
  { name: "empty then truncated index", block: "ff", reason: "truncated" },
  { name: "integer ends mid-continuation", block: "ff 80", reason: "truncated" },
  { name: "string length beyond the block", block: "40 05 61 62", reason: "truncated" },
  { name: "no value after the name", block: "40 01 61", reason: "truncated" },
  { name: "integer overflow", block: "ff ff ff ff ff 0f", reason: "integer_overflow" },
  { name: "string length overflow", block: "00 7f ff ff ff ff 0f", reason: "integer_overflow" },
  { name: "indexed field with index 0", block: "80", reason: "index_zero" },
  { name: "index 62 with an empty dynamic table", block: "be", reason: "index_out_of_range" },
  { name: "literal name index beyond the tables", block: "7e 01 61", reason: "index_out_of_range" },
  { name: "index one past the dynamic table", block: "bf", reason: "index_out_of_range", before: ["40 01 61 01 62"] },
  { name: "Huffman padding of zeros", block: "00 81 18 01 61", reason: "huffman_padding" },
  { name: "Huffman padding longer than 7 bits", block: "00 82 1f ff 01 61", reason: "huffman_padding" },
  { name: "EOS inside a Huffman string", block: "00 84 ff ff ff ff 01 61", reason: "huffman_eos" },
  { name: "size update above the limit", block: sizeUpdate(4097), reason: "size_update_too_large" },
  {
    name: "size update above a lowered limit",
    block: sizeUpdate(200),
    reason: "size_update_too_large",
    options: { maxTableSize: 100 },
  },
  { name: "size update after a field", block: "82 20", reason: "size_update_not_at_start" },
  { name: "three size updates", block: "20 20 20 82", reason: "too_many_size_updates" },
  {
    name: "header list too long (indexed)",
    block: "82 82 82 82",
    reason: "header_list_too_large",
    options: { maxHeaderListSize: 3 * 42 },
  },
  {
    name: "HPACK bomb: one table entry referenced many times",
    block: "40 01 61 7f 21 " + "61".repeat(160) + " be".repeat(200),
    reason: "header_list_too_large",
    options: { maxHeaderListSize: 8192 },
  },
  {
    name: "string too long (raw)",
    block: "00 05 68 65 6c 6c 6f 00",
    reason: "string_too_long",
    options: { maxStringLength: 4 },
  },
  {
    name: "string too long (Huffman)",
    block: "00 01 61 8c f1 e3 c2 e5 f2 3a 6b a0 ab 90 f4 ff",
    reason: "string_too_long",
    options: { maxStringLength: 14 },
  },
];

for (const c of CASES) {
  test(`malformed block: ${c.name} -> ${c.reason}`, () => {
    const decoder = new HpackDecoder(c.options);
    for (const b of c.before ?? []) decoder.decode(hex(b));
    assert.throws(
      () => decoder.decode(hex(c.block)),
      (err: unknown) => err instanceof HpackError && err.reason === c.reason,
    );
  });
}

test("the same blocks minus the fault decode", () => {
  const ok: [string, HpackDecoderOptions?][] = [
    ["40 01 61 01 62"],
    ["00 81 1f 01 61"], // Huffman "a"
    [sizeUpdate(4096)],
    [sizeUpdate(100), { maxTableSize: 100 }],
    ["20 20 82"], // two updates are allowed
    ["82 82 82", { maxHeaderListSize: 3 * 42 }],
    ["00 04 68 65 6c 6c 00", { maxStringLength: 4 }],
    ["00 01 61 8c f1 e3 c2 e5 f2 3a 6b a0 ab 90 f4 ff", { maxStringLength: 15 }],
  ];
  for (const [block, options] of ok) {
    assert.doesNotThrow(() => new HpackDecoder(options).decode(hex(block)), block);
  }
});

test("after a connection-level error the decoder refuses further blocks", () => {
  const decoder = new HpackDecoder();
  assert.throws(
    () => decoder.decode(hex("80")),
    (e: unknown) => e instanceof HpackError && !e.tableInSync,
  );
  assert.throws(
    () => decoder.decode(hex("82")),
    (e: unknown) => e instanceof HpackError && e.reason === "decoder_failed",
  );
});

test("an oversized header list is decoded to the end, keeping the table in step", () => {
  const decoder = new HpackDecoder({ maxHeaderListSize: 50 });
  const seen: string[] = [];
  // 42 + 42 > 50 at the second field; the literals after it must still enter the table.
  const block = hex("82 82 40 01 61 01 62 00 01 63 01 64 10 01 65 01 66 be");
  assert.throws(
    () => decoder.decodeEach(block, (name) => seen.push(name)),
    (e: unknown) => e instanceof HpackError && e.reason === "header_list_too_large" && e.tableInSync,
  );
  assert.deepEqual(seen, [":method"]);
  assert.deepEqual(decoder.table.entries(), [["a", "b"]]);
  assert.deepEqual(decoder.decode(hex("be")), [["a", "b", false]]);
});

test("a lowered table size limit requires a size update at the next block", () => {
  const decoder = new HpackDecoder();
  decoder.decode(hex("40 01 61 01 62"));
  decoder.setMaxTableSizeLimit(0);
  assert.throws(
    () => decoder.decode(hex("82")),
    (e: unknown) => e instanceof HpackError && e.reason === "size_update_missing",
  );

  const other = new HpackDecoder();
  other.decode(hex("40 01 61 01 62"));
  other.setMaxTableSizeLimit(0);
  assert.deepEqual(other.decode(hex("20 82")), [[":method", "GET", false]]);
  assert.equal(other.table.length, 0);
  assert.equal(other.table.maxSize, 0);
  // Later blocks need no update.
  assert.deepEqual(other.decode(hex("82")), [[":method", "GET", false]]);
});

test("a raised limit permits larger updates without requiring one", () => {
  const decoder = new HpackDecoder();
  decoder.setMaxTableSizeLimit(65536);
  assert.deepEqual(decoder.decode(hex("82")), [[":method", "GET", false]]);
  decoder.decode(hex(sizeUpdate(65536)));
  assert.equal(decoder.table.maxSize, 65536);
});

test("a size update evicts, and the table grows back only by new entries", () => {
  const decoder = new HpackDecoder();
  decoder.decode(hex("40 01 61 01 62 40 01 63 01 64")); // 34 + 34
  decoder.decode(hex(sizeUpdate(40) + "82"));
  assert.deepEqual(decoder.table.entries(), [["c", "d"]]);
});

test("decodes a sub-range of a larger buffer and plain Uint8Array input", () => {
  const buf = hex("ffff 8286 84 ffff");
  assert.deepEqual(new HpackDecoder().decode(buf, 2, 5), [
    [":method", "GET", false],
    [":scheme", "http", false],
    [":path", "/", false],
  ]);
  const u8 = new Uint8Array([0x00, 0x01, 0x61, 0x02, 0xe9, 0x00]);
  assert.deepEqual(new HpackDecoder().decode(u8), [["a", "\u00e9\u0000", false]], "octets come back as latin1");
});

test("a block of only size updates decodes to no fields", () => {
  assert.deepEqual(new HpackDecoder().decode(hex("20")), []);
  assert.deepEqual(new HpackDecoder().decode(hex("")), []);
});

test("cached short strings: raw and Huffman octets are told apart, limits still apply", () => {
  const decoder = new HpackDecoder();
  // The same octet 0x1f is "\x1f" raw and "a" Huffman-coded.
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(decoder.decode(hex("00 01 1f 01 1f")), [["\u001f", "\u001f", false]]);
    assert.deepEqual(decoder.decode(hex("00 81 1f 81 1f")), [["a", "a", false]]);
  }
  // A string cached by one decoder is still too long for a stricter one.
  new HpackDecoder().decode(hex("00 01 61 06 61 62 63 64 65 66"));
  assert.throws(
    () => new HpackDecoder({ maxStringLength: 5 }).decode(hex("00 01 61 06 61 62 63 64 65 66")),
    (e: unknown) => e instanceof HpackError && e.reason === "string_too_long",
  );
  // Bad Huffman is never cached as good: it fails every time.
  for (let i = 0; i < 2; i++) {
    assert.throws(
      () => new HpackDecoder().decode(hex("00 81 18 01 61")),
      (e: unknown) => e instanceof HpackError,
    );
  }
});
