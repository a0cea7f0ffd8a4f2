import { test } from "node:test";
import assert from "node:assert/strict";
import { HpackError } from "../../../../src/transport/h2/hpack/errors.js";
import { decodeInteger, encodeInteger, integerLength, MAX_INTEGER } from "../../../../src/transport/h2/hpack/integer.js";
import { hex } from "./helpers.js";

test("prefix integers round trip at every prefix width and at the edges", () => {
  const values = [0, 1, 14, 15, 16, 30, 31, 32, 62, 63, 64, 126, 127, 128, 254, 255, 256, 1337, 4096, 65535, 2 ** 20, MAX_INTEGER];
  for (let prefix = 1; prefix <= 8; prefix++) {
    for (const value of values) {
      const out = Buffer.alloc(10);
      const flags = prefix === 8 ? 0 : (0xff << prefix) & 0xff;
      const end = encodeInteger(out, 1, value, prefix, flags);
      assert.equal(end - 1, integerLength(value, prefix), `length of ${value}/${prefix}`);
      assert.equal(out[1]! & ~((1 << prefix) - 1) & 0xff, flags, "flag bits kept");
      const cursor = { pos: 1 };
      assert.equal(decodeInteger(out, cursor, end, prefix), value, `${value} with ${prefix}-bit prefix`);
      assert.equal(cursor.pos, end);
    }
  }
});

function assertReason(fn: () => unknown, reason: string): void {
  assert.throws(fn, (err: unknown) => err instanceof HpackError && err.reason === reason);
}

test("prefix integer decoding rejects truncation and overflow", () => {
  assertReason(() => decodeInteger(hex(""), { pos: 0 }, 0, 7), "truncated");
  assertReason(() => decodeInteger(hex("7f"), { pos: 0 }, 1, 7), "truncated");
  assertReason(() => decodeInteger(hex("7f 80 80"), { pos: 0 }, 3, 7), "truncated");
  // The end bound is honoured even when the buffer holds more.
  assertReason(() => decodeInteger(hex("1f 9a 0a"), { pos: 0 }, 2, 5), "truncated");
  assertReason(() => decodeInteger(hex("7f ff ff ff ff 0f"), { pos: 0 }, 6, 7), "integer_overflow");
  // 2^31 exactly: one past the guard.
  const out = Buffer.alloc(8);
  const end = encodeInteger(out, 0, MAX_INTEGER + 1, 7, 0);
  assertReason(() => decodeInteger(out, { pos: 0 }, end, 7), "integer_overflow");
  // Zero-valued continuation octets cannot go on for ever.
  assertReason(() => decodeInteger(hex("7f 80 80 80 80 80 80 00"), { pos: 0 }, 8, 7), "integer_overflow");
  assert.equal(decodeInteger(hex("7f 80 80 80 00"), { pos: 0 }, 5, 7), 127);
});
