import { test } from "node:test";
import assert from "node:assert/strict";
import { hash32 } from "../../src/balancer/hash.js";
import { hashCookie, hashQueryParameter, requestHasher } from "../../src/balancer/hash-key.js";
import type { HashKeySource } from "../../src/config/types.js";
import { makeRequest, type RequestInit } from "./fixtures.js";

/** Reference MurmurHash3 x86_32 over a byte buffer, written from the specification. */
function murmur3Reference(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const blocks = bytes.length >> 2;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < blocks; i++) {
    let k = view.getUint32(i * 4, true);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const tail = blocks * 4;
  const rest = bytes.length & 3;
  if (rest >= 3) k ^= bytes[tail + 2]! << 16;
  if (rest >= 2) k ^= bytes[tail + 1]! << 8;
  if (rest >= 1) {
    k ^= bytes[tail]!;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

test("hash32 matches MurmurHash3 x86_32 published vectors", () => {
  assert.equal(hash32(""), 0);
  assert.equal(hash32("", 1), 0x514e28b7);
  assert.equal(hash32("hello"), 0x248bfa47);
  assert.equal(hash32("The quick brown fox jumps over the lazy dog"), 0x2e4ff723);
});

test("hash32 hashes the UTF-8 bytes of any string, and slices without copying", () => {
  const samples = ["a", "ab", "abc", "abcd", "héllo wörld", "日本語のキー", "emoji 😀 key", "lone \ud800 surrogate", "x\udc00"];
  for (const s of samples) {
    for (const seed of [0, 1, 0x9747b28c]) {
      assert.equal(hash32(s, seed), murmur3Reference(new TextEncoder().encode(s), seed), `${JSON.stringify(s)} seed ${seed}`);
    }
  }
  const s = "prefix-日本-suffix";
  assert.equal(hash32(s, 0, 7, 9), hash32("日本"));
});

test("hash32 spreads sequential keys evenly over 16 buckets", () => {
  const buckets = new Array<number>(16).fill(0);
  for (let i = 0; i < 16_000; i++) buckets[hash32(`user-${i}`) & 15]!++;
  for (const b of buckets) assert.ok(b > 900 && b < 1100, buckets.join(","));
});

const table: ReadonlyArray<{ name: string; source: HashKeySource; request: RequestInit; key: string | undefined }> = [
  { name: "header present", source: { kind: "header", name: "x-user" }, request: { headers: { "x-user": "alice" } }, key: "alice" },
  { name: "header name is case-insensitive", source: { kind: "header", name: "X-User" }, request: { headers: { "x-user": "bob" } }, key: "bob" },
  { name: "header absent", source: { kind: "header", name: "x-user" }, request: { headers: { other: "x" } }, key: undefined },
  { name: "header present but empty", source: { kind: "header", name: "x-user" }, request: { headers: { "x-user": "" } }, key: "" },
  {
    name: "cookie among others",
    source: { kind: "cookie", name: "session", path: "/", ttlMs: 0 },
    request: { headers: { cookie: "a=1; session=abc123; b=2" } },
    key: "abc123",
  },
  {
    name: "cookie first in header, spaces around",
    source: { kind: "cookie", name: "session", path: "/", ttlMs: 0 },
    request: { headers: { cookie: "  session = xyz ;a=1" } },
    key: "xyz",
  },
  {
    name: "quoted cookie value",
    source: { kind: "cookie", name: "session", path: "/", ttlMs: 0 },
    request: { headers: { cookie: 'session="q v"' } },
    key: "q v",
  },
  {
    name: "cookie name is not matched as a suffix or prefix",
    source: { kind: "cookie", name: "session", path: "/", ttlMs: 0 },
    request: { headers: { cookie: "xsession=1; sessionx=2; session=3" } },
    key: "3",
  },
  {
    name: "cookie absent",
    source: { kind: "cookie", name: "session", path: "/", ttlMs: 0 },
    request: { headers: { cookie: "a=1; b=2" } },
    key: undefined,
  },
  { name: "no cookie header", source: { kind: "cookie", name: "session", path: "/", ttlMs: 0 }, request: {}, key: undefined },
  { name: "source ip", source: { kind: "sourceIp" }, request: { sourceIp: "198.51.100.7" }, key: "198.51.100.7" },
  { name: "source ip unknown", source: { kind: "sourceIp" }, request: { sourceIp: "" }, key: undefined },
  {
    name: "query parameter",
    source: { kind: "queryParameter", name: "user" },
    request: { path: "/pkg.Svc/M?x=1&user=42&y=2" },
    key: "42",
  },
  {
    name: "query parameter: first occurrence wins",
    source: { kind: "queryParameter", name: "user" },
    request: { path: "/pkg.Svc/M?user=first&user=second" },
    key: "first",
  },
  {
    name: "query parameter without a value",
    source: { kind: "queryParameter", name: "user" },
    request: { path: "/pkg.Svc/M?a=1&user" },
    key: "",
  },
  {
    name: "query parameter name is matched whole",
    source: { kind: "queryParameter", name: "user" },
    request: { path: "/pkg.Svc/M?username=1&xuser=2" },
    key: undefined,
  },
  { name: "no query string", source: { kind: "queryParameter", name: "user" }, request: { path: "/pkg.Svc/M" }, key: undefined },
];

for (const row of table) {
  test(`hash key: ${row.name}`, () => {
    const hasher = requestHasher(row.source);
    const got = hasher(makeRequest(row.request));
    assert.equal(got, row.key === undefined ? undefined : hash32(row.key));
  });
}

test("hash key: different values give different hashes", () => {
  const hasher = requestHasher({ kind: "header", name: "x-user" });
  assert.notEqual(hasher(makeRequest({ headers: { "x-user": "alice" } })), hasher(makeRequest({ headers: { "x-user": "bob" } })));
});

test("cookie and query parsers handle empty and degenerate input", () => {
  assert.equal(hashCookie("", "a"), undefined);
  assert.equal(hashCookie(";;;", "a"), undefined);
  assert.equal(hashCookie("a", "a"), undefined); // no '=': not a cookie pair
  assert.equal(hashCookie("a=", "a"), hash32(""));
  assert.equal(hashQueryParameter("/p?", "a"), undefined);
  assert.equal(hashQueryParameter("/p?&&a=1", "a"), hash32("1"));
  assert.equal(hashQueryParameter("/p?a=1#frag", "a"), hash32("1"));
});
