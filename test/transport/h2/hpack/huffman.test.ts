import { test } from "node:test";
import assert from "node:assert/strict";
import { HpackError } from "../../../../src/transport/h2/hpack/errors.js";
import { huffmanDecode, huffmanEncode, huffmanEncodedLength } from "../../../../src/transport/h2/hpack/huffman.js";
import { HUFFMAN_CODES, HUFFMAN_LENGTHS } from "../../../../src/transport/h2/hpack/huffman-table.js";
import { hex, prng, randomLatin1, toHex } from "./helpers.js";

function encode(s: string): Buffer {
  const out = Buffer.alloc(huffmanEncodedLength(s));
  assert.equal(huffmanEncode(s, out, 0), out.length, "huffmanEncodedLength agrees with huffmanEncode");
  return out;
}

function decode(b: Uint8Array, max = 1 << 20): string {
  return huffmanDecode(b, 0, b.length, max);
}

test("the Appendix B table is a complete prefix code with EOS as 30 ones", () => {
  assert.equal(HUFFMAN_CODES.length, 257);
  let kraft = 0;
  for (let i = 0; i < 257; i++) kraft += 2 ** (30 - HUFFMAN_LENGTHS[i]!);
  assert.equal(kraft, 2 ** 30);
  assert.equal(HUFFMAN_CODES[256], 0x3fffffff);
  assert.equal(HUFFMAN_LENGTHS[256], 30);
  // Spot checks against the RFC text: '0' = 00000, 'a' = 00011, 0xff = 26 bits.
  assert.deepEqual([HUFFMAN_CODES[48], HUFFMAN_LENGTHS[48]], [0x0, 5]);
  assert.deepEqual([HUFFMAN_CODES[97], HUFFMAN_LENGTHS[97]], [0x3, 5]);
  assert.deepEqual([HUFFMAN_CODES[255], HUFFMAN_LENGTHS[255]], [0x3ffffee, 26]);
});

// The Huffman strings of Appendix C.4 and C.6.
const RFC_STRINGS: [string, string][] = [
  ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
  ["no-cache", "a8eb 1064 9cbf"],
  ["custom-key", "25a8 49e9 5ba9 7d7f"],
  ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
  ["302", "6402"],
  ["307", "640e ff"],
  ["private", "aec3 771a 4b"],
  ["Mon, 21 Oct 2013 20:13:21 GMT", "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff"],
  ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
  ["gzip", "9bd9 ab"],
  [
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
  ],
];

test("Huffman encodes and decodes the RFC 7541 Appendix C strings", () => {
  for (const [text, encoded] of RFC_STRINGS) {
    assert.equal(toHex(encode(text)), encoded.replace(/\s+/g, ""), text);
    assert.equal(decode(hex(encoded)), text, text);
  }
});

test("Huffman round trip of every byte value, alone and all together", () => {
  let all = "";
  for (let c = 0; c < 256; c++) {
    const s = String.fromCharCode(c);
    all += s;
    assert.equal(decode(encode(s)), s, `byte ${c}`);
    assert.equal(decode(encode(s + s + s)), s + s + s, `byte ${c} x3`);
  }
  assert.equal(decode(encode(all)), all);
  const reversed = all.split("").reverse().join("");
  assert.equal(decode(encode(reversed)), reversed);
});

test("Huffman round trip of random strings, at an offset inside a larger buffer", () => {
  const rand = prng(7541);
  for (let i = 0; i < 2000; i++) {
    const s = randomLatin1(rand, Math.floor(rand() * 120), i % 2 === 0 ? undefined : "abcdefghijklmnop0123456789-_/.");
    const length = huffmanEncodedLength(s);
    const out = Buffer.alloc(length + 7, 0x55);
    assert.equal(huffmanEncode(s, out, 3), 3 + length);
    assert.equal(out[length + 3], 0x55, "writes nothing past its length");
    assert.equal(huffmanDecode(out, 3, 3 + length, 1000), s);
  }
});

test("Huffman decoding of the empty string", () => {
  assert.equal(decode(Buffer.alloc(0)), "");
  assert.equal(huffmanEncodedLength(""), 0);
});

function assertReason(fn: () => unknown, reason: string): void {
  assert.throws(fn, (err: unknown) => err instanceof HpackError && err.reason === reason);
}

test("Huffman decoding rejects EOS, long or non-one padding, and long output", () => {
  // 30 ones are EOS, whatever follows.
  assertReason(() => decode(hex("ffffffff")), "huffman_eos");
  assertReason(() => decode(hex("1f ffffffff")), "huffman_eos"); // 'a' then EOS
  // 'a' (00011) with its 3 padding bits of ones is fine; 11 padding bits are not.
  assert.equal(decode(hex("1f")), "a");
  assertReason(() => decode(hex("1f ff")), "huffman_padding");
  assertReason(() => decode(hex("ff")), "huffman_padding"); // 8 ones: padding longer than 7 bits
  // 'a' padded with zeros, and with mixed bits.
  assertReason(() => decode(hex("18")), "huffman_padding");
  assertReason(() => decode(hex("1d")), "huffman_padding");
  // At most maxLength chars come out.
  const www = hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff");
  assert.equal(decode(www, 15), "www.example.com");
  assertReason(() => decode(www, 14), "string_too_long");
});

test("huffmanEncodedLength flags chars that are not octets", () => {
  assert.ok(huffmanEncodedLength("caf\u00e9") > 4);
  assert.equal(huffmanEncodedLength("\u20ac"), -1);
});
