// Routing by :authority, then by VirtualService matches, then by destination weight.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { VirtualHost } from "../../src/config/types.js";
import { ISTIO_DEFAULT_RETRY } from "../../src/config/retry.js";
import { seededRandom } from "../../src/core/random.js";
import { Router, stripPort } from "../../src/proxy/router.js";

// stripPort handles names, IPv4, bracketed and bare IPv6.
for (const [input, want] of [
  ["grpc-service", "grpc-service"],
  ["grpc-service:50051", "grpc-service"],
  ["10.0.0.1:80", "10.0.0.1"],
  ["[::1]:8080", "::1"],
  ["[::1]", "::1"],
  ["::1", "::1"],
] as const) {
  test(`stripPort(${JSON.stringify(input)}) is ${JSON.stringify(want)}`, () => {
    assert.equal(stripPort(input), want, input);
  });
}

const hosts: VirtualHost[] = [
  {
    domains: ["echo", "echo.default.svc.cluster.local"],
    routes: [
      {
        matches: [{ uri: { kind: "prefix", value: "/admin." }, headers: [] }],
        destinations: [{ cluster: "echo|50051|admin", weight: 1 }],
        timeoutMs: 500,
        retry: ISTIO_DEFAULT_RETRY,
      },
      {
        matches: [{ uri: null, headers: [{ name: "x-canary", kind: "exact", value: "yes" }] }],
        destinations: [{ cluster: "echo|50051|v2", weight: 1 }],
        timeoutMs: null,
        retry: ISTIO_DEFAULT_RETRY,
      },
      {
        matches: [],
        destinations: [
          { cluster: "echo|50051|v1", weight: 90 },
          { cluster: "echo|50051|v2", weight: 10 },
        ],
        timeoutMs: null,
        retry: ISTIO_DEFAULT_RETRY,
      },
    ],
  },
  { domains: ["other"], routes: [{ matches: [], destinations: [{ cluster: "other|50051|", weight: 1 }], timeoutMs: null, retry: ISTIO_DEFAULT_RETRY }] },
];

const noHeaders = (): undefined => undefined;

test("authority: short name, FQDN, any port, any case; unknown -> no route unless a default host", () => {
  const r = new Router(hosts, null, seededRandom(1));
  for (const a of ["other", "other:1", "OTHER:50051"]) {
    assert.deepEqual(r.route(a, "/p.S/M", noHeaders), { kind: "cluster", cluster: "other|50051|", timeoutMs: null, retry: ISTIO_DEFAULT_RETRY }, a);
  }
  assert.deepEqual(r.route("nowhere:80", "/p.S/M", noHeaders), { kind: "none", message: "no route for authority nowhere:80" });
  const withDefault = new Router(hosts, "other", seededRandom(1));
  assert.equal(withDefault.route("nowhere:80", "/p.S/M", noHeaders).kind, "cluster");
});

test("matches are tried in order: uri prefix, then header, then the weighted default", () => {
  const r = new Router(hosts, null, seededRandom(1));
  assert.deepEqual(r.route("echo", "/admin.Svc/Get", noHeaders), { kind: "cluster", cluster: "echo|50051|admin", timeoutMs: 500, retry: ISTIO_DEFAULT_RETRY });
  const canary = (n: string): string | undefined => (n === "x-canary" ? "yes" : undefined);
  assert.deepEqual(r.route("echo.default.svc.cluster.local:50051", "/p.S/M", canary), {
    kind: "cluster",
    cluster: "echo|50051|v2",
    timeoutMs: null,
    retry: ISTIO_DEFAULT_RETRY,
  });
});

test("weighted destinations split traffic by weight (90/10 +- 2%)", () => {
  const r = new Router(hosts, null, seededRandom(42));
  let v2 = 0;
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const res = r.route("echo", "/p.S/M", noHeaders);
    if (res.kind === "cluster" && res.cluster === "echo|50051|v2") v2++;
  }
  assert.ok(Math.abs(v2 / n - 0.1) < 0.02, `v2 got ${((100 * v2) / n).toFixed(1)}%`);
});
