import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpAuthority } from "../../src/balancer/address.js";
import { passthroughPolicy } from "../../src/balancer/passthrough.js";
import { Status } from "../../src/core/status.js";
import { makeDeps, makeEndpoints, makeRequest } from "./fixtures.js";

const good: ReadonlyArray<{ authority: string; address: string; port: number; key: string }> = [
  { authority: "10.1.2.3:8080", address: "10.1.2.3", port: 8080, key: "10.1.2.3:8080" },
  { authority: "[::1]:50051", address: "::1", port: 50051, key: "[::1]:50051" },
  { authority: "[2001:db8::7]:443", address: "2001:db8::7", port: 443, key: "[2001:db8::7]:443" },
  { authority: "127.0.0.1:1", address: "127.0.0.1", port: 1, key: "127.0.0.1:1" },
  { authority: "127.0.0.1:65535", address: "127.0.0.1", port: 65535, key: "127.0.0.1:65535" },
];

for (const row of good) {
  test(`passthrough sends ${row.authority} to ${row.key}`, () => {
    const picker = passthroughPolicy(makeDeps(1))([]);
    const result = picker.pick(makeRequest({ authority: row.authority }));
    assert.equal(result.kind, "endpoint");
    if (result.kind !== "endpoint") return;
    assert.equal(result.endpoint.address, row.address);
    assert.equal(result.endpoint.port, row.port);
    assert.equal(result.endpoint.key, row.key);
    assert.deepEqual(result.endpoint.load, { activeRequests: 0, activeConnections: 0 });
  });
}

const bad: ReadonlyArray<{ authority: string; reason: RegExp }> = [
  { authority: "10.1.2.3", reason: /no port/ },
  { authority: "svc.example:8080", reason: /not an IP address/ },
  { authority: "10.1.2.3:", reason: /no valid port/ },
  { authority: "10.1.2.3:http", reason: /no valid port/ },
  { authority: "10.1.2.3:0", reason: /outside 1-65535/ },
  { authority: "10.1.2.3:70000", reason: /outside 1-65535/ },
  { authority: "::1:80", reason: /without brackets/ },
  { authority: "[::1]", reason: /no port/ },
  { authority: "[::1", reason: /unclosed/ },
  { authority: "[10.0.0.1]:80", reason: /not an IPv6 address/ },
  { authority: "", reason: /no port/ },
];

for (const row of bad) {
  test(`passthrough fails UNAVAILABLE for authority ${JSON.stringify(row.authority)}`, () => {
    const result = passthroughPolicy(makeDeps(1))([]).pick(makeRequest({ authority: row.authority }));
    assert.equal(result.kind, "fail");
    if (result.kind !== "fail") return;
    assert.equal(result.status, Status.UNAVAILABLE);
    assert.ok(result.message.includes(`"${row.authority}"`), result.message);
    assert.match(result.message, row.reason);
    assert.equal(parseIpAuthority(row.authority).ok, false);
  });
}

test("passthrough returns the same result object for repeated picks of an authority", () => {
  const picker = passthroughPolicy(makeDeps(1))([]);
  const a = picker.pick(makeRequest({ authority: "10.0.9.9:80" }));
  assert.equal(picker.pick(makeRequest({ authority: "10.0.9.9:80" })), a);
  assert.notEqual(picker.pick(makeRequest({ authority: "10.0.9.9:81" })), a);
});

test("passthrough returns the configured endpoint (and its live counters) when the authority names one", () => {
  const endpoints = makeEndpoints([3, 1]);
  const result = passthroughPolicy(makeDeps(1))(endpoints).pick(makeRequest({ authority: "10.0.0.2:8080" }));
  assert.equal(result.kind === "endpoint" ? result.endpoint : undefined, endpoints[1]);
});

test("passthrough's authority cache is bounded and drops the least recently used entry", () => {
  const picker = passthroughPolicy(makeDeps(1), { cacheSize: 2 })([]);
  const pick = (authority: string): unknown => picker.pick(makeRequest({ authority }));
  const a = pick("10.0.0.1:1");
  const b = pick("10.0.0.2:1");
  assert.equal(pick("10.0.0.1:1"), a); // refreshes a
  pick("10.0.0.3:1"); // evicts b, the least recently used
  assert.equal(pick("10.0.0.1:1"), a);
  assert.notEqual(pick("10.0.0.2:1"), b);
});

test("passthrough rejects a cache size below 1", () => {
  assert.throws(() => passthroughPolicy(makeDeps(1), { cacheSize: 0 }), /cacheSize/);
});
