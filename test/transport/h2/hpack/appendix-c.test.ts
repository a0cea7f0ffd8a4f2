// Every example of RFC 7541 Appendix C, decoded (fields and the dynamic table after each
// block) and, where the RFC's encoder choices match sluice's policy, encoded byte for byte.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HpackDecoder } from "../../../../src/transport/h2/hpack/decoder.js";
import { encodeStatic, HpackEncoder } from "../../../../src/transport/h2/hpack/encoder.js";
import { decodeInteger, encodeInteger } from "../../../../src/transport/h2/hpack/integer.js";
import { hex, toHex } from "./helpers.js";

type Pair = [string, string];

interface Step {
  block: string;
  fields: Pair[];
  /** Dynamic table after the block, newest first, and its size. */
  table: Pair[];
  size: number;
}

const AUTHORITY: Pair = [":authority", "www.example.com"];
const NO_CACHE: Pair = ["cache-control", "no-cache"];
const CUSTOM: Pair = ["custom-key", "custom-value"];
const REQUEST_FIELDS: Pair[][] = [
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], AUTHORITY],
  [[":method", "GET"], [":scheme", "http"], [":path", "/"], AUTHORITY, NO_CACHE],
  [[":method", "GET"], [":scheme", "https"], [":path", "/index.html"], AUTHORITY, CUSTOM],
];
const REQUEST_TABLES: [Pair[], number][] = [
  [[AUTHORITY], 57],
  [[NO_CACHE, AUTHORITY], 110],
  [[CUSTOM, NO_CACHE, AUTHORITY], 164],
];

function requests(blocks: string[]): Step[] {
  return blocks.map((block, i) => ({
    block,
    fields: REQUEST_FIELDS[i]!,
    table: REQUEST_TABLES[i]![0],
    size: REQUEST_TABLES[i]![1],
  }));
}

const C3 = requests([
  "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
  "8286 84be 5808 6e6f 2d63 6163 6865",
  "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
]);

const C4 = requests([
  "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
  "8286 84be 5886 a8eb 1064 9cbf",
  "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
]);

const S302: Pair = [":status", "302"];
const S307: Pair = [":status", "307"];
const PRIVATE: Pair = ["cache-control", "private"];
const DATE1: Pair = ["date", "Mon, 21 Oct 2013 20:13:21 GMT"];
const DATE2: Pair = ["date", "Mon, 21 Oct 2013 20:13:22 GMT"];
const LOCATION: Pair = ["location", "https://www.example.com"];
const GZIP: Pair = ["content-encoding", "gzip"];
const COOKIE: Pair = ["set-cookie", "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1"];

function responses(blocks: string[]): Step[] {
  return [
    { block: blocks[0]!, fields: [S302, PRIVATE, DATE1, LOCATION], table: [LOCATION, DATE1, PRIVATE, S302], size: 222 },
    { block: blocks[1]!, fields: [S307, PRIVATE, DATE1, LOCATION], table: [S307, LOCATION, DATE1, PRIVATE], size: 222 },
    {
      block: blocks[2]!,
      fields: [[":status", "200"], PRIVATE, DATE2, LOCATION, GZIP, COOKIE],
      table: [COOKIE, GZIP, DATE2],
      size: 215,
    },
  ];
}

const C5 = responses([
  `4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
   2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
   6c65 2e63 6f6d`,
  "4803 3330 37c1 c0bf",
  `88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
   54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
   5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
   3d31`,
]);

const C6 = responses([
  `4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
   2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3`,
  "4883 640e ffc1 c0bf",
  `88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
   77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
   9587 3160 65c0 03ed 4ee5 b106 3d50 07`,
]);

function decodeSeries(steps: Step[], tableSize: number): void {
  const decoder = new HpackDecoder({ maxTableSize: tableSize });
  steps.forEach((step, i) => {
    const fields = decoder.decode(hex(step.block));
    assert.deepEqual(
      fields,
      step.fields.map(([n, v]) => [n, v, false]),
      `block ${i + 1} fields`,
    );
    assert.deepEqual(decoder.table.entries(), step.table, `block ${i + 1} table`);
    assert.equal(decoder.table.size, step.size, `block ${i + 1} table size`);
  });
}

/** Encodes each step's fields; prefix is what our encoder sends before the RFC's first block. */
function encodeSeries(steps: Step[], encoder: HpackEncoder, firstPrefix = "", overrides: Record<number, string> = {}): void {
  steps.forEach((step, i) => {
    const block = encoder.encode(step.fields);
    const expected = (i === 0 ? firstPrefix : "") + (overrides[i] ?? step.block).replace(/\s+/g, "");
    assert.equal(toHex(block), expected, `block ${i + 1}`);
    assert.deepEqual(encoder.table.entries(), step.table, `block ${i + 1} encoder table`);
    assert.equal(encoder.table.size, step.size, `block ${i + 1} encoder table size`);
  });
}

test("C.1 integer representation examples", () => {
  const cases: [number, number, string][] = [
    [10, 5, "0a"], // C.1.1
    [1337, 5, "1f9a0a"], // C.1.2
    [42, 8, "2a"], // C.1.3
  ];
  for (const [value, prefix, encoded] of cases) {
    const out = Buffer.alloc(8);
    const end = encodeInteger(out, 0, value, prefix, 0);
    assert.equal(toHex(out.subarray(0, end)), encoded, `encode ${value}`);
    const cursor = { pos: 0 };
    assert.equal(decodeInteger(hex(encoded), cursor, encoded.length / 2, prefix), value, `decode ${value}`);
    assert.equal(cursor.pos, encoded.length / 2);
  }
  // The bits above the prefix belong to the representation and are ignored (C.1.2 with 0b111).
  assert.equal(decodeInteger(hex("ff9a0a"), { pos: 0 }, 3, 5), 1337);
});

test("C.2.1 literal field with indexing", () => {
  const block = "400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572";
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(hex(block)), [["custom-key", "custom-header", false]]);
  assert.deepEqual(decoder.table.entries(), [["custom-key", "custom-header"]]);
  assert.equal(decoder.table.size, 55);
  const encoder = new HpackEncoder({ huffman: false });
  assert.equal(toHex(encoder.encode([["custom-key", "custom-header"]])), block.replace(/\s+/g, ""));
  assert.equal(encoder.table.size, 55);
});

test("C.2.2 literal field without indexing", () => {
  const block = "040c 2f73 616d 706c 652f 7061 7468";
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(hex(block)), [[":path", "/sample/path", false]]);
  assert.equal(decoder.table.length, 0);
  assert.equal(toHex(encodeStatic(":path", "/sample/path", false, false)), block.replace(/\s+/g, ""));
});

test("C.2.3 literal field never indexed keeps the flag", () => {
  const block = "1008 7061 7373 776f 7264 0673 6563 7265 74";
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(hex(block)), [["password", "secret", true]]);
  assert.equal(decoder.table.length, 0);
  assert.equal(toHex(encodeStatic("password", "secret", true, false)), block.replace(/\s+/g, ""));
  // The encoder re-encodes a decoded never-indexed field the same way.
  const encoder = new HpackEncoder({ huffman: false });
  assert.equal(toHex(encoder.encode([["password", "secret", true]])), block.replace(/\s+/g, ""));
  assert.equal(encoder.table.length, 0);
});

test("C.2.4 indexed field", () => {
  const decoder = new HpackDecoder();
  assert.deepEqual(decoder.decode(hex("82")), [[":method", "GET", false]]);
  assert.equal(decoder.table.length, 0);
  assert.equal(toHex(new HpackEncoder().encode([[":method", "GET"]])), "82");
});

test("C.3 requests without Huffman: decoder", () => decodeSeries(C3, 4096));
test("C.3 requests without Huffman: encoder", () => encodeSeries(C3, new HpackEncoder({ huffman: false })));
test("C.4 requests with Huffman: decoder", () => decodeSeries(C4, 4096));
test("C.4 requests with Huffman: encoder", () => encodeSeries(C4, new HpackEncoder()));
test("C.5 responses without Huffman, 256-octet table with evictions: decoder", () => decodeSeries(C5, 256));
test("C.6 responses with Huffman, 256-octet table with evictions: decoder", () => decodeSeries(C6, 256));

// Our encoder announces its 256-octet table (below the protocol's 4096) with a size update
// (3f e1 01) at the start of its first block; the RFC assumes both sides began at 256.
test("C.5 responses without Huffman: encoder", () => {
  encodeSeries(C5, new HpackEncoder({ maxTableSize: 256, huffman: false }), "3fe101");
});
// The RFC Huffman-codes "307" into 3 octets (64 0e ff), saving nothing; we send it raw.
test("C.6 responses with Huffman: encoder", () => {
  encodeSeries(C6, new HpackEncoder({ maxTableSize: 256 }), "3fe101", { 1: "4803 3330 37c1 c0bf" });
});
