// Each rule of `sluice analyze` fires on a config that has its problem, at the line where the
// setting is written, and stays silent once the fix it suggests is applied.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Finding } from "../../src/analyze/finding.js";
import { parseClientOptions } from "../../src/analyze/client-options.js";
import { analyzeConfig, exitCodeOf } from "../../src/analyze/analyze.js";
import { loadConfigSources } from "../../src/config/load.js";
import { analyzeText, FILE, lineOf } from "./support.js";

const only = (findings: readonly Finding[], rule: string): Finding[] => findings.filter((f) => f.rule === rule);

test("a config without any of the problems has no findings", () => {
  const { findings } = analyzeText({
    dr: `trafficPolicy:
  loadBalancer: {simple: LEAST_REQUEST}
  connectionPool:
    http: {http2MaxRequests: 1000, maxRequestsPerConnection: 100}
  outlierDetection: {consecutive5xxErrors: 5}`,
    proxy: "mode: connection",
  });
  assert.deepEqual(findings, []);
  assert.equal(exitCodeOf(findings), 0);
});

test("least-conn-deprecated: at the line of simple: LEAST_CONN, once (the loader's own warning is not repeated); LEAST_REQUEST is silent", () => {
  const dr = (lb: string): string => `trafficPolicy:
  loadBalancer: {simple: ${lb}}
subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer:
        simple: ${lb}`;
  const { findings, text } = analyzeText({ dr: dr("LEAST_CONN") });
  const lc = only(findings, "least-conn-deprecated");
  assert.deepEqual(
    lc.map((f) => [f.file, f.line, f.path]),
    [
      [FILE, lineOf(text, "loadBalancer: {simple: LEAST_CONN}"), "spec.trafficPolicy.loadBalancer.simple"],
      [FILE, lineOf(text, "        simple: LEAST_CONN"), "spec.subsets[0].trafficPolicy.loadBalancer.simple"],
    ],
  );
  assert.match(lc[0]?.reason ?? "", /deprecated alias of LEAST_REQUEST/);
  assert.match(lc[0]?.fix ?? "", /simple: LEAST_REQUEST/);
  assert.deepEqual(only(findings, "config-warning"), [], "the loader's LEAST_CONN warning is covered by the rule");
  assert.equal(exitCodeOf(findings), 1);
  assert.deepEqual(analyzeText({ dr: dr("LEAST_REQUEST") }).findings, []);
});

test("connection-mode-no-cycling: connection mode without maxRequestsPerConnection, one finding for the DR and the subset inheriting it", () => {
  const dr = (http: string): string => `trafficPolicy:
  connectionPool:
    http: {${http}}
subsets:
  - name: v1
    labels: {version: v1}`;
  const { findings, text } = analyzeText({ dr: dr("http2MaxRequests: 1000"), proxy: "mode: connection" });
  const f = only(findings, "connection-mode-no-cycling");
  assert.equal(f.length, 1);
  assert.equal(f[0]?.line, lineOf(text, "http: {"));
  assert.equal(f[0]?.path, "spec.trafficPolicy.connectionPool.http");
  assert.deepEqual(f[0]?.clusters, ["grpc-service|50051|", "grpc-service|50051|v1"]);
  assert.match(f[0]?.reason ?? "", /pins each client connection.*never balanced again/);
  assert.match(f[0]?.fix ?? "", /set under spec\.trafficPolicy:\n {2}connectionPool:\n {4}http:\n {6}maxRequestsPerConnection: 100/);

  // The fix, cycling by time instead, and request mode are all silent.
  assert.deepEqual(analyzeText({ dr: dr("maxRequestsPerConnection: 100"), proxy: "mode: connection" }).findings, []);
  assert.deepEqual(analyzeText({ dr: dr("http2MaxRequests: 1000"), proxy: "mode: connection\ndownstream: {maxConnectionAge: 10m}" }).findings, []);
  assert.deepEqual(analyzeText({ dr: dr("http2MaxRequests: 1000"), proxy: "mode: request" }).findings, []);
});

test("connection-mode-no-cycling: a host without a DestinationRule is found at its ServiceEntry, and the fix adds one", () => {
  const { findings, text } = analyzeText({ proxy: "mode: connection" });
  const f = only(findings, "connection-mode-no-cycling");
  assert.equal(f.length, 1);
  assert.equal(f[0]?.line, lineOf(text, "hosts: [grpc-service]"));
  assert.match(f[0]?.fix ?? "", /add a DestinationRule for host grpc-service with:\n {2}spec:\n {4}host: grpc-service\n {4}trafficPolicy:/);
});

test("connection-mode-no-cycling: maxConnectionDuration does not count (it ages the proxy's upstream connections, not the pinned ones)", () => {
  const { findings } = analyzeText({ dr: "trafficPolicy:\n  connectionPool:\n    tcp: {maxConnectionDuration: 5m}", proxy: "mode: connection" });
  const f = only(findings, "connection-mode-no-cycling");
  assert.equal(f.length, 1);
  assert.match(f[0]?.reason ?? "", /maxConnectionDuration 5m ages only the proxy's own connections/);
});

test("reuse-disabled: maxRequestsPerConnection 1 in a subset is found there; the rate comes from --rps and a measured cost from costOf", () => {
  const dr = (n: number): string => `subsets:
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      connectionPool:
        http:
          maxRequestsPerConnection: ${n}`;
  const { findings, text } = analyzeText({ dr: dr(1) }, { rps: new Map([["*", 200]]), costOf: (_config, cluster) => `sim says ${cluster.name} costs a lot` });
  const f = only(findings, "reuse-disabled");
  assert.equal(f.length, 1);
  assert.equal(f[0]?.line, lineOf(text, "maxRequestsPerConnection: 1"));
  assert.equal(f[0]?.path, "spec.subsets[0].trafficPolicy.connectionPool.http.maxRequestsPerConnection");
  assert.deepEqual(f[0]?.clusters, ["grpc-service|50051|v2"]);
  assert.match(f[0]?.reason ?? "", /at 200 RPC\/s: 200 new connections per second, 720000 per hour/);
  assert.match(f[0]?.reason ?? "", /measured: sim says grpc-service\|50051\|v2 costs a lot/);
  assert.match(f[0]?.fix ?? "", /change under spec\.subsets\[0\]\.trafficPolicy:/);

  const noRate = only(analyzeText({ dr: dr(1) }).findings, "reuse-disabled");
  assert.match(noRate[0]?.reason ?? "", /one new connection per RPC \(give --rps N for the rate\)/);
  assert.doesNotMatch(noRate[0]?.reason ?? "", /measured/);
  assert.deepEqual(analyzeText({ dr: dr(100) }).findings, []);
});

test("ejection-impossible: maxEjectionPercent 0 ejects nothing; 10 with 3 endpoints still ejects one (the detector's own cap), so it is silent", () => {
  const dr = (pct: number, errors = 5): string => `trafficPolicy:
  outlierDetection:
    consecutive5xxErrors: ${errors}
    maxEjectionPercent: ${pct}`;
  const { findings, text } = analyzeText({ dr: dr(0) });
  const f = only(findings, "ejection-impossible");
  assert.equal(f.length, 1);
  assert.equal(f[0]?.line, lineOf(text, "maxEjectionPercent: 0"));
  assert.match(f[0]?.reason ?? "", /eject none of the 3 endpoints.*smallest maxEjectionPercent that allows one ejection here is 1/);
  assert.match(f[0]?.fix ?? "", /maxEjectionPercent: 10/);
  assert.deepEqual(analyzeText({ dr: dr(10) }).findings, []);
  assert.deepEqual(analyzeText({ dr: dr(1), endpoints: 7 }).findings, []);
  // Nothing is counted when every rule is off: no ejection is nothing lost.
  assert.deepEqual(analyzeText({ dr: dr(0, 0) }).findings, []);
});

test("max-requests-below-concurrency: only with --concurrency (an info note otherwise), per host or for every host", () => {
  const dr = (n: number): string => `trafficPolicy:
  connectionPool:
    http:
      http2MaxRequests: ${n}`;
  const without = analyzeText({ dr: dr(100) });
  assert.deepEqual(without.findings, []);
  assert.ok(without.notes.some((n) => n.startsWith("max-requests-below-concurrency: not checked")));

  const { findings, text, notes } = analyzeText({ dr: dr(100) }, { concurrency: new Map([["grpc-service", 500]]) });
  assert.ok(!notes.some((n) => n.startsWith("max-requests-below-concurrency")));
  const f = only(findings, "max-requests-below-concurrency");
  assert.equal(f.length, 1);
  assert.equal(f[0]?.line, lineOf(text, "http2MaxRequests: 100"));
  assert.match(f[0]?.reason ?? "", /http2MaxRequests 100 is below the expected 500.*400 of them \(80%\) fail at once with UNAVAILABLE/);
  assert.match(f[0]?.fix ?? "", /http2MaxRequests: 625/);
  assert.deepEqual(analyzeText({ dr: dr(625) }, { concurrency: new Map([["*", 500]]) }).findings, []);
  assert.deepEqual(analyzeText({ dr: dr(100) }, { concurrency: new Map([["other-service", 500]]) }).findings, []);
});

test("keepalive-too-frequent: the commonly recommended client keepalive (30s pings, also without calls) against the proxy's default policy; the recommended options are silent", () => {
  const commonClient = parseClientOptions(
    "client.json",
    `{
  "grpc.keepalive_time_ms": 30000,
  "grpc.keepalive_timeout_ms": 10000,
  "grpc.keepalive_permit_without_calls": 1
}`,
  );
  assert.ok(commonClient.ok);
  const { findings } = analyzeText({}, { client: commonClient.options });
  const f = only(findings, "keepalive-too-frequent");
  assert.deepEqual(
    f.map((x) => [x.file, x.line, x.path]),
    [
      ["client.json", 2, "grpc.keepalive_time_ms"],
      ["client.json", 4, "grpc.keepalive_permit_without_calls"],
    ],
  );
  assert.match(f[0]?.reason ?? "", /pings every 30s but the proxy permits one ping per 5m.*GOAWAY ENHANCE_YOUR_CALM "too_many_pings"/);
  assert.match(f[0]?.fix ?? "", /"grpc\.keepalive_time_ms": 330000/);
  assert.match(f[1]?.reason ?? "", /allows one ping per 2h/);

  const fixed = parseClientOptions("client.json", `{"grpc.keepalive_time_ms": 330000, "grpc.keepalive_permit_without_calls": 0}`);
  assert.ok(fixed.ok);
  assert.deepEqual(analyzeText({}, { client: fixed.options }).findings, []);
});

test("keepalive-too-frequent: the Proxy resource's own policy is the one compared, and named", () => {
  const client = parseClientOptions("client.json", `{"grpc.keepalive_time_ms": 30000, "grpc.keepalive_permit_without_calls": 1}`);
  assert.ok(client.ok);
  const lenient = "downstream:\n  keepalive: {minPingInterval: 20s, permitWithoutCalls: true}";
  assert.deepEqual(analyzeText({ proxy: lenient }, { client: client.options }).findings, []);
  const strict = analyzeText({ proxy: "downstream:\n  keepalive:\n    minPingInterval: 1m" }, { client: client.options });
  const f = only(strict.findings, "keepalive-too-frequent");
  assert.match(
    f[0]?.reason ?? "",
    new RegExp(`one ping per 1m \\(${FILE}:${lineOf(strict.text, "minPingInterval: 1m")} spec\\.downstream\\.keepalive\\.minPingInterval\\)`),
  );
  // Without client options the rule says it did not run.
  assert.ok(analyzeText({}).notes.some((n) => n.startsWith("keepalive-too-frequent: not checked")));
});

test("keepalive-too-frequent: when the third strike lands follows the proxy's rule (an on-time ping forgives nothing); a time past Node's longest timer pings every millisecond", () => {
  const options = (json: string): Parameters<typeof analyzeText>[1] => {
    const parsed = parseClientOptions("client.json", json);
    assert.ok(parsed.ok);
    return { client: parsed.options };
  };
  // 2 min against 5 min: strikes at 2 and 4 min, on time at 6, the third strike at 8 min (not 3 x 2 = 6).
  const f = only(analyzeText({}, options(`{"grpc.keepalive_time_ms": 120000}`)).findings, "keepalive-too-frequent");
  assert.match(f[0]?.reason ?? "", /that happens 8m after it opens/);
  const huge = only(analyzeText({}, options(`{"grpc.keepalive_time_ms": 3000000000}`)).findings, "keepalive-too-frequent");
  assert.equal(huge.length, 1);
  assert.match(huge[0]?.reason ?? "", /3000000000 ms is longer than Node\.js's longest timer .* pings about every millisecond/);
});

test("loader warnings are findings (config-warning) with the loader's message", () => {
  const { findings, text } = analyzeText({ dr: "trafficPolicy:\n  outlierDetection:\n    consecutiveErrors: 5" });
  const f = only(findings, "config-warning");
  assert.equal(f.length, 1);
  assert.equal(f[0]?.line, lineOf(text, "consecutiveErrors: 5"));
  assert.match(f[0]?.reason ?? "", /deprecated: use consecutiveGatewayErrors/);
  assert.equal(exitCodeOf(findings), 1);
});

test("a portLevelSettings entry replaces the DR's policy for its port: the finding points into it, not at the DR level's value", () => {
  const { findings, text } = analyzeText({
    dr: `trafficPolicy:
  connectionPool:
    http: {maxRequestsPerConnection: 100}
  portLevelSettings:
    - port: {number: 50051}
      connectionPool:
        tcp: {connectTimeout: 5s}`,
    proxy: "mode: connection",
  });
  const f = only(findings, "connection-mode-no-cycling");
  assert.equal(f.length, 1);
  assert.equal(f[0]?.line, lineOf(text, "      connectionPool:"));
  assert.equal(f[0]?.path, "spec.trafficPolicy.portLevelSettings[0].connectionPool");
  assert.match(f[0]?.fix ?? "", /set under spec\.trafficPolicy\.portLevelSettings\[0\]:/);
});

test("a DestinationRule is matched to its host as the loader matches it: a short name does not claim the FQDN host beside it", () => {
  const text = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: both}
spec:
  hosts: [echo, echo.default.svc.cluster.local]
  ports: [{number: 50051, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: short}
spec:
  host: echo
  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 100}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: long}
spec:
  host: echo.default.svc.cluster.local
  trafficPolicy: {connectionPool: {tcp: {connectTimeout: 1s}}}
---
apiVersion: sluice.dev/v1alpha1
kind: Proxy
metadata: {name: p}
spec: {mode: connection}
`;
  const sources = [{ file: FILE, text }];
  const { result } = loadConfigSources(sources);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  const f = only(analyzeConfig(result.config, sources).findings, "connection-mode-no-cycling");
  assert.deepEqual(
    f.map((x) => [x.clusters, x.line, x.path]),
    [[["echo.default.svc.cluster.local|50051|"], lineOf(text, "connectTimeout: 1s"), "spec.trafficPolicy.connectionPool"]],
  );
  assert.match(f[0]?.fix ?? "", /DestinationRule long/);
});
