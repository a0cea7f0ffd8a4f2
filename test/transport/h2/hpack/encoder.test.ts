// The encoder's indexing policy, table size updates and precomputed fields, checked on the
// wire bytes and through our decoder.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HpackDecoder, type HeaderField } from "../../../../src/transport/h2/hpack/decoder.js";
import { encodeStatic, HpackEncoder, type FieldInput } from "../../../../src/transport/h2/hpack/encoder.js";
import { hex, prng, randomLatin1, toHex } from "./helpers.js";

const GRPC_REQUEST: FieldInput[] = [
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/helloworld.Greeter/SayHello"],
  [":authority", "greeter.default.svc.cluster.local:50051"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
  ["user-agent", "grpc-node-js/1.14.7"],
  ["grpc-accept-encoding", "identity,deflate,gzip"],
  ["grpc-timeout", "99m"],
];

function fields(list: FieldInput[]): HeaderField[] {
  return list.map(([n, v, ni]) => [n, v, ni ?? false]);
}

test("a repeated gRPC request costs one octet per field, except the per-request deadline", () => {
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  const first = encoder.encode(GRPC_REQUEST);
  assert.deepEqual(decoder.decode(first), fields(GRPC_REQUEST));
  const second = encoder.encode(GRPC_REQUEST);
  assert.deepEqual(decoder.decode(second), fields(GRPC_REQUEST));
  // 8 indexed fields, then grpc-timeout as a literal without indexing, as on the first block.
  assert.equal(second.length, 8 + encodeStatic("grpc-timeout", "99m").length);
  for (let i = 0; i < 8; i++) assert.ok(second[i]! >= 0x80, `field ${i} indexed`);
  assert.equal(second[8]! & 0xf0, 0x00, "grpc-timeout without indexing");
  assert.ok(!encoder.table.entries().some(([n]) => n === "grpc-timeout"));
  assert.ok(
    encoder.table.entries().some(([n]) => n === ":path"),
    ":path is indexed",
  );
});

test("authorization, proxy-authorization, short cookies and flagged fields are never indexed", () => {
  const encoder = new HpackEncoder({ huffman: false });
  const cases: [FieldInput, string][] = [
    // 0001 + static name index 23 (15 + 8).
    [["authorization", "Bearer abc"], "1f08"],
    [["proxy-authorization", "Basic xyz"], "1f22"],
    [["cookie", "id=1234567890123"], "1f11"],
    [["x-secret", "s", true], "1008"],
  ];
  const decoder = new HpackDecoder();
  for (const [field, prefix] of cases) {
    for (let round = 0; round < 2; round++) {
      const block = encoder.encode([field]);
      assert.ok(toHex(block).startsWith(prefix), `${field[0]}: ${toHex(block)}`);
      assert.deepEqual(decoder.decode(block), [[field[0], field[1], true]]);
    }
  }
  assert.equal(encoder.table.length, 0);
  // A long cookie is worth indexing.
  const cookie = encoder.encode([["cookie", "session=0123456789abcdef0123456789"]]);
  assert.equal(cookie[0]! & 0xc0, 0x40);
  assert.equal(encoder.encode([["cookie", "session=0123456789abcdef0123456789"]]).length, 1);
});

test("a decoded never-indexed field is re-encoded never-indexed", () => {
  const upstream = new HpackEncoder();
  const proxyIn = new HpackDecoder();
  const proxyOut = new HpackEncoder();
  const downstream = new HpackDecoder();
  const decoded = proxyIn.decode(
    upstream.encode([
      ["x-api-key", "k-123", true],
      ["x-plain", "p"],
    ]),
  );
  assert.deepEqual(decoded, [
    ["x-api-key", "k-123", true],
    ["x-plain", "p", false],
  ]);
  const reencoded = proxyOut.encode(decoded);
  assert.deepEqual(downstream.decode(reencoded), decoded);
  assert.deepEqual(proxyOut.table.entries(), [["x-plain", "p"]]);
});

test("static matches are indexed; static names are preferred over dynamic ones", () => {
  const encoder = new HpackEncoder({ huffman: false });
  assert.equal(
    toHex(
      encoder.encode([
        [":method", "POST"],
        [":status", "200"],
        ["accept-encoding", "gzip, deflate"],
      ]),
    ),
    "8388" + "90",
  );
  encoder.encode([[":status", "299"]]);
  // ":status: 298" names index 8 (static), not the dynamic entry.
  assert.ok(toHex(encoder.encode([[":status", "298"]])).startsWith("48"));
  // A dynamic name is used when the static table lacks it: "x-a" is entry 62 (0x40 | 62).
  const e2 = new HpackEncoder({ huffman: false });
  e2.encode([["x-a", "1"]]);
  assert.equal(toHex(e2.encode([["x-a", "2"]])), "7e" + "0132");
  e2.encode([["x-b", "1"]]);
  // Two entries later it is 63, which needs a continuation octet.
  assert.equal(toHex(e2.encode([["x-a", "3"]])), "7f00" + "0133");
});

test("entries over 3/4 of the table are sent without indexing, not flushing the table", () => {
  const encoder = new HpackEncoder({ maxTableSize: 256 });
  encoder.encode([["x-keep", "1"]]);
  const big = "v".repeat(200);
  const block = encoder.encode([["x-big", big]]);
  assert.equal(block[0]! & 0xf0, 0x00);
  assert.deepEqual(encoder.table.entries(), [["x-keep", "1"]]);
});

test("unindexedNames replaces the default list", () => {
  const encoder = new HpackEncoder({ unindexedNames: ["x-id"] });
  encoder.encode([
    ["x-id", "1"],
    ["grpc-timeout", "5S"],
  ]);
  assert.deepEqual(encoder.table.entries(), [["grpc-timeout", "5S"]]);
});

test("table size changes are announced at the next block start", () => {
  const encoder = new HpackEncoder();
  encoder.encode([["x-a", "1"]]);
  // No change, no update.
  encoder.setPeerMaxTableSize(8192); // above our cap of 4096: stays 4096
  assert.equal(toHex(encoder.encode([[":method", "GET"]])), "82");

  encoder.setPeerMaxTableSize(1024);
  const lowered = encoder.encode([[":method", "GET"]]);
  assert.equal(toHex(lowered), "3fe107" + "82"); // 1024 = 31 + 993
  assert.equal(encoder.table.maxSize, 1024);

  // Down to 0 and back to 4096 between two blocks: the minimum, then the final size.
  encoder.setPeerMaxTableSize(0);
  encoder.setPeerMaxTableSize(4096);
  assert.equal(toHex(encoder.encode([[":method", "GET"]])), "20" + "3fe11f" + "82");
  assert.equal(encoder.table.length, 0);
  assert.equal(encoder.table.maxSize, 4096);
});

test("the size updates the encoder sends satisfy a decoder whose limit was lowered", () => {
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  const block1 = encoder.encode([
    ["x-a", "1"],
    ["x-b", "2"],
  ]);
  decoder.decode(block1);
  // Peer (the decoder's side) lowers SETTINGS_HEADER_TABLE_SIZE to 50 and it is acked.
  encoder.setPeerMaxTableSize(50);
  decoder.setMaxTableSizeLimit(50);
  const block2 = encoder.encode([
    ["x-b", "2"],
    ["x-c", "3"],
  ]);
  assert.deepEqual(decoder.decode(block2), [
    ["x-b", "2", false],
    ["x-c", "3", false],
  ]);
  assert.deepEqual(decoder.table.entries(), encoder.table.entries());
  assert.deepEqual(encoder.table.entries(), [["x-c", "3"]]);
});

test("an encoder capped below 4096 announces its size in the first block", () => {
  const encoder = new HpackEncoder({ maxTableSize: 0 });
  assert.equal(toHex(encoder.encode([["x-a", "1"]])), "20" + "0003782d610131");
  assert.equal(encoder.table.length, 0);
  // Nothing is indexed into a zero-size table, and later blocks carry no update.
  assert.equal(toHex(encoder.encode([[":path", "/"]])), "84");
});

test("encodeStatic fields work through raw() in any block and leave the table alone", () => {
  assert.equal(toHex(encodeStatic(":method", "POST")), "83");
  const contentType = encodeStatic("content-type", "application/grpc");
  assert.equal(contentType[0], 0x0f); // without indexing, name index 31 = 15 + 16
  assert.equal(contentType[1], 0x10);
  const grpcStatus = encodeStatic("grpc-status", "0");
  const encoder = new HpackEncoder();
  const decoder = new HpackDecoder();
  for (let i = 0; i < 3; i++) {
    encoder.startBlock();
    encoder.raw(encodeStatic(":status", "200"));
    encoder.raw(contentType);
    encoder.field("x-n", String(i));
    encoder.raw(grpcStatus);
    assert.deepEqual(decoder.decode(encoder.endBlock()), [
      [":status", "200", false],
      ["content-type", "application/grpc", false],
      ["x-n", String(i), false],
      ["grpc-status", "0", false],
    ]);
  }
  assert.deepEqual(
    decoder.table.entries().map(([n]) => n),
    ["x-n", "x-n", "x-n"],
  );
  assert.deepEqual(decodeOne(encodeStatic("authorization", "t", true)), ["authorization", "t", true]);
});

function decodeOne(block: Uint8Array): HeaderField | undefined {
  return new HpackDecoder().decode(block)[0];
}

test("endBlock's view is reused, encode() returns a copy", () => {
  const encoder = new HpackEncoder();
  const copy = encoder.encode([[":method", "GET"]]);
  encoder.startBlock();
  encoder.field(":method", "POST");
  const view = encoder.endBlock();
  encoder.startBlock();
  encoder.field(":path", "/");
  assert.equal(toHex(copy), "82");
  assert.equal(toHex(view), "84", "the view now shows the newer block");
});

test("encoders share one block buffer: reading a block after another encoder started one throws", () => {
  const a = new HpackEncoder();
  const b = new HpackEncoder();
  assert.throws(() => a.endBlock(), /before startBlock/);
  a.startBlock();
  a.field(":method", "POST");
  const fromA = Buffer.from(a.endBlock());
  b.startBlock();
  b.field(":status", "200");
  assert.throws(() => a.copyBlock(Buffer.alloc(16), 0), /another encoder/);
  assert.throws(() => a.field(":path", "/"), /another encoder/);
  assert.equal(toHex(fromA), "83");
  assert.equal(toHex(b.endBlock()), "88");
  // A block larger than the buffer grows it for everyone.
  a.startBlock();
  a.field("x-big", "v".repeat(10_000));
  const big = Buffer.from(a.endBlock());
  assert.deepEqual(new HpackDecoder().decode(big), [["x-big", "v".repeat(10_000), false]]);
});

test("copyBlock copies the block behind a caller's frame header", () => {
  const encoder = new HpackEncoder();
  encoder.startBlock();
  encoder.field(":method", "POST");
  encoder.field("grpc-timeout", "1S");
  const frame = Buffer.alloc(9 + encoder.blockLength, 0xee);
  assert.equal(encoder.copyBlock(frame, 9), encoder.blockLength);
  assert.equal(frame[8], 0xee);
  assert.deepEqual(new HpackDecoder().decode(frame, 9), [
    [":method", "POST", false],
    ["grpc-timeout", "1S", false],
  ]);
});

test("literal names come out the same from the name cache, raw and Huffman", () => {
  for (const huffman of [true, false]) {
    const encoder = new HpackEncoder({ huffman });
    const first = toHex(encoder.encode([["grpc-timeout", "1S"]]));
    assert.equal(toHex(encoder.encode([["grpc-timeout", "1S"]])), first);
    assert.equal(first.includes(Buffer.from("grpc-timeout").toString("hex")), !huffman);
  }
});

test("strings with chars above 0xff are refused, not mangled", () => {
  assert.throws(() => new HpackEncoder().encode([["x-a", "\u20ac"]]), RangeError);
  assert.equal(decodeOne(new HpackEncoder().encode([["x-a", "\u00ff\u0000\u0080"]]))?.[1], "\u00ff\u0000\u0080");
});

test("random blocks round trip through a small table: encoder and decoder tables agree", () => {
  const rand = prng(41);
  for (const [tableSize, huffman] of [
    [256, true],
    [256, false],
    [1024, true],
    [0, true],
  ] as const) {
    const encoder = new HpackEncoder({ maxTableSize: tableSize, huffman });
    const decoder = new HpackDecoder({ maxTableSize: 4096 });
    const names = ["x-a", "x-b", "x-c", ":path", "content-type", "grpc-timeout", "cookie", "authorization", "x-long-name-" + "n".repeat(40)];
    for (let block = 0; block < 400; block++) {
      if (rand() < 0.02) {
        const size = Math.floor(rand() * 4096);
        encoder.setPeerMaxTableSize(size);
        decoder.setMaxTableSizeLimit(size);
      }
      const list: FieldInput[] = [];
      const count = 1 + Math.floor(rand() * 12);
      for (let i = 0; i < count; i++) {
        const name = names[Math.floor(rand() * names.length)]!;
        const value = rand() < 0.7 ? `v${Math.floor(rand() * 6)}` : randomLatin1(rand, Math.floor(rand() * 90));
        list.push([name, value, rand() < 0.05]);
      }
      const expected = fields(list).map(([n, v, ni]): HeaderField => [n, v, ni || n === "authorization" || (n === "cookie" && v.length < 20)]);
      assert.deepEqual(decoder.decode(encoder.encode(list)), expected, `table ${tableSize} block ${block}`);
      assert.deepEqual(decoder.table.entries(), encoder.table.entries(), `table ${tableSize} block ${block}`);
      assert.equal(decoder.table.maxSize, encoder.table.maxSize);
    }
  }
});

test("hex helper sanity", () => assert.equal(toHex(hex("0a 0b")), "0a0b"));
