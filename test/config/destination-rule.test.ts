// DestinationRule fields: defaults, validation of limits, durations, LB names, hash keys,
// unknown fields, and warnings for fields sluice does not implement yet.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Cluster, ProxyConfig } from "../../src/config/types.js";
import { destinationRule, docs, load, mustLoad, oneProblem, problems, SERVICE_ENTRY, warnings } from "./helpers.js";

const defaultCluster = (c: ProxyConfig): Cluster => c.clusters.get("grpc-service|50051|")!;
const withPolicy = (policy: string): string => docs(SERVICE_ENTRY, destinationRule(`  host: grpc-service\n  trafficPolicy:\n${policy}`));

test("an empty trafficPolicy (and no DestinationRule at all) gives Istio's defaults", () => {
  const expected = {
    loadBalancer: { kind: "simple", policy: "LEAST_REQUEST" },
    connectionPool: {
      tcp: { maxConnections: Infinity, connectTimeoutMs: 10_000, maxConnectionDurationMs: null, idleTimeoutMs: 3_600_000 },
      http: {
        http1MaxPendingRequests: Infinity,
        http2MaxRequests: Infinity,
        maxRequestsPerConnection: 0,
        maxRetries: Infinity,
        idleTimeoutMs: 3_600_000,
        maxConcurrentStreams: Infinity,
      },
    },
    outlierDetection: null,
    retryBudget: null,
    tls: null,
  };
  assert.deepEqual(defaultCluster(mustLoad(docs(SERVICE_ENTRY, destinationRule("  host: grpc-service\n  trafficPolicy: {}\n")))).policy, expected);
  assert.deepEqual(defaultCluster(mustLoad(SERVICE_ENTRY)).policy, expected);
  // Empty sub-messages default field by field too.
  assert.deepEqual(defaultCluster(mustLoad(withPolicy("    connectionPool: {tcp: {}, http: {}}\n"))).policy, expected);
});

test("an empty outlierDetection gives Istio's outlier defaults", () => {
  const c = mustLoad(withPolicy("    outlierDetection: {}\n"));
  assert.deepEqual(defaultCluster(c).policy.outlierDetection, {
    consecutive5xxErrors: 5,
    consecutiveGatewayErrors: 0,
    intervalMs: 10_000,
    baseEjectionTimeMs: 30_000,
    maxEjectionPercent: 10,
    minHealthPercent: 0,
    splitExternalLocalOriginErrors: false,
    consecutiveLocalOriginFailures: 5,
  });
});

test("set values are parsed: limits, durations, 0 = unset for Istio's int32 limits", () => {
  const c = mustLoad(
    withPolicy(
      [
        "    connectionPool:",
        "      tcp: {maxConnections: 7, connectTimeout: 1.5s, maxConnectionDuration: 30m, idleTimeout: 500ms}",
        "      http: {http1MaxPendingRequests: 0, http2MaxRequests: 1000, maxRequestsPerConnection: 100, maxRetries: 3, idleTimeout: 1h, maxConcurrentStreams: 50}",
        "",
      ].join("\n"),
    ),
  );
  assert.deepEqual(defaultCluster(c).policy.connectionPool, {
    tcp: { maxConnections: 7, connectTimeoutMs: 1500, maxConnectionDurationMs: 1_800_000, idleTimeoutMs: 500 },
    http: {
      http1MaxPendingRequests: Infinity,
      http2MaxRequests: 1000,
      maxRequestsPerConnection: 100,
      maxRetries: 3,
      idleTimeoutMs: 3_600_000,
      maxConcurrentStreams: 50,
    },
  });
});

// Simple LB names: LEAST_CONN and UNSPECIFIED normalize to LEAST_REQUEST, LEAST_CONN with a deprecation warning.
for (const [written, policy, deprecated] of [
  ["LEAST_CONN", "LEAST_REQUEST", true],
  ["UNSPECIFIED", "LEAST_REQUEST", false],
  ["LEAST_REQUEST", "LEAST_REQUEST", false],
  ["ROUND_ROBIN", "ROUND_ROBIN", false],
  ["RANDOM", "RANDOM", false],
  ["PASSTHROUGH", "PASSTHROUGH", false],
] as const) {
  test(`simple LB name ${written} is ${policy}${deprecated ? ", with a deprecation warning" : ""}`, () => {
    const r = load(withPolicy(`    loadBalancer: {simple: ${written}}\n`));
    assert.ok(r.ok, written);
    assert.deepEqual(defaultCluster(r.config).policy.loadBalancer, { kind: "simple", policy }, written);
    const w = r.config.warnings.filter((x) => /deprecated alias/.test(x.message));
    assert.equal(w.length, deprecated ? 1 : 0, written);
    if (deprecated) assert.equal(w[0]!.path, "spec.trafficPolicy.loadBalancer.simple");
  });
}

test("an unknown LB name lists the allowed ones, with a hint when close", () => {
  const p = oneProblem(withPolicy("    loadBalancer: {simple: LEAST_REQUESTS}\n"), /simple/);
  assert.match(
    p,
    /must be one of UNSPECIFIED, LEAST_CONN, ROUND_ROBIN, RANDOM, PASSTHROUGH, LEAST_REQUEST, got "LEAST_REQUESTS" \(did you mean LEAST_REQUEST\?\)/,
  );
  oneProblem(withPolicy("    loadBalancer: {simple: 3}\n"), /must be one of .* got 3$/);
});

test("consistentHash: each key kind, ring hash and maglev, defaults", () => {
  const lb = (yaml: string): unknown => defaultCluster(mustLoad(withPolicy(`    loadBalancer:\n      consistentHash: ${yaml}\n`))).policy.loadBalancer;
  assert.deepEqual(lb("{httpHeaderName: X-User}"), {
    kind: "consistentHash",
    key: { kind: "header", name: "x-user" },
    algorithm: { kind: "ringHash", minimumRingSize: 1024 },
  });
  assert.deepEqual(lb("{useSourceIp: true, maglev: {tableSize: 65537}}"), {
    kind: "consistentHash",
    key: { kind: "sourceIp" },
    algorithm: { kind: "maglev", tableSize: 65537 },
  });
  assert.deepEqual(lb("{httpQueryParameterName: user, ringHash: {minimumRingSize: 4096}}"), {
    kind: "consistentHash",
    key: { kind: "queryParameter", name: "user" },
    algorithm: { kind: "ringHash", minimumRingSize: 4096 },
  });
  assert.deepEqual(lb("{httpCookie: {name: session, path: /, ttl: 60s}, minimumRingSize: 2048}"), {
    kind: "consistentHash",
    key: { kind: "cookie", name: "session", path: "/", ttlMs: 60_000 },
    algorithm: { kind: "ringHash", minimumRingSize: 2048 },
  });
  assert.deepEqual(lb("{useSourceIp: true, maglev: {}}"), {
    kind: "consistentHash",
    key: { kind: "sourceIp" },
    algorithm: { kind: "maglev", tableSize: 65537 },
  });
});

test("consistentHash needs exactly one key and at most one algorithm; maglev tableSize must be prime", () => {
  const ch = (yaml: string): string => withPolicy(`    loadBalancer:\n      consistentHash: ${yaml}\n`);
  oneProblem(
    ch("{ringHash: {minimumRingSize: 8}}"),
    /must set exactly one hash key of httpHeaderName, httpCookie, useSourceIp, httpQueryParameterName, got none/,
  );
  oneProblem(ch("{httpHeaderName: a, useSourceIp: true}"), /got httpHeaderName, useSourceIp/);
  oneProblem(ch("{useSourceIp: true, ringHash: {}, maglev: {}}"), /set at most one of ringHash, maglev, minimumRingSize/);
  oneProblem(ch("{useSourceIp: true, maglev: {tableSize: 1000}}"), /maglev\.tableSize: must be a prime number, got 1000/);
  oneProblem(ch("{httpCookie: {path: /}}"), /httpCookie: name is required/);
  oneProblem(withPolicy("    loadBalancer: {simple: RANDOM, consistentHash: {useSourceIp: true}}\n"), /set either simple or consistentHash, not both/);
});

// Limits must be integers in range: negative and non-integer values are problems.
for (const [yaml, pattern] of [
  ["tcp: {maxConnections: -1}", /tcp\.maxConnections: must be an integer >= 0, got -1/],
  ["http: {http2MaxRequests: 1.5}", /http\.http2MaxRequests: must be an integer >= 0, got 1\.5/],
  ["http: {maxRequestsPerConnection: -5}", /maxRequestsPerConnection: must be an integer >= 0, got -5/],
  ['http: {maxRetries: "3"}', /maxRetries: must be an integer >= 0, got "3"/],
  ["http: {maxConcurrentStreams: 3000000000}", /maxConcurrentStreams: must be an integer from 0 to 2147483647, got 3000000000/],
  ["http: {http1MaxPendingRequests: true}", /http1MaxPendingRequests: must be an integer >= 0, got true/],
] as const) {
  test(`connectionPool {${yaml}} is a problem: a limit must be an integer in range`, () => {
    oneProblem(withPolicy(`    connectionPool: {${yaml}}\n`), pattern);
  });
}

// Durations in fields: no unit, bad unit, below 1ms, negative.
for (const [value, pattern] of [
  ["10", /connectTimeout: must be a duration like .*, got 10 \(add a unit, e\.g\. "10s"\)/],
  ["1x", /connectTimeout: must be a duration like .*, got "1x"/],
  ["0.5ms", /connectTimeout: must be >= 1ms, got "0\.5ms"/],
  ["-1s", /connectTimeout: must be >= 1ms, got "-1s"/],
] as const) {
  test(`connectTimeout ${value} is a problem: not a duration of 1ms or more`, () => {
    oneProblem(withPolicy(`    connectionPool: {tcp: {connectTimeout: ${value}}}\n`), pattern);
  });
}

test("percentages are 0-100", () => {
  oneProblem(withPolicy("    outlierDetection: {maxEjectionPercent: 101}\n"), /maxEjectionPercent: must be an integer from 0 to 100, got 101/);
  oneProblem(withPolicy("    outlierDetection: {minHealthPercent: -1}\n"), /minHealthPercent: must be an integer from 0 to 100, got -1/);
  oneProblem(withPolicy("    retryBudget: {percent: 150}\n"), /retryBudget\.percent: must be a number from 0 to 100, got 150/);
});

test("an unknown field is a problem with a did-you-mean hint, or the list of known fields", () => {
  const p = oneProblem(withPolicy("    connectionPool: {http: {maxRequestPerConnection: 10}}\n"), /maxRequestPerConnection/);
  assert.match(
    p,
    /^test\.yaml:\d+ spec\.trafficPolicy\.connectionPool\.http\.maxRequestPerConnection: unknown field \(did you mean maxRequestsPerConnection\?\)$/,
  );
  const far = oneProblem(withPolicy("    somethingElse: 1\n"), /somethingElse/);
  assert.match(
    far,
    /unknown field \(known fields: loadBalancer, connectionPool, outlierDetection, tls, portLevelSettings, proxyProtocol, tunnel, retryBudget\)/,
  );
  oneProblem(docs(SERVICE_ENTRY, destinationRule("  hosts: grpc-service\n  host: grpc-service\n")), /spec\.hosts: unknown field \(did you mean host\?\)/);
});

test("a field sluice does not implement yet is accepted with exactly one warning naming it", () => {
  const text = withPolicy(
    "    connectionPool:\n      tcp: {maxConnections: 10}\n      http: {maxRetries: 3}\n    retryBudget: {percent: 30, budgetInterval: 1s}\n",
  );
  const r = load(text);
  assert.ok(r.ok);
  const w = r.config.warnings;
  // maxConnections, maxRetries and retryBudget.percent are implemented: no warning for them.
  assert.deepEqual(
    w.map((x) => `${x.line} ${x.path}`),
    ["22 spec.trafficPolicy.retryBudget.budgetInterval"],
  );
  assert.match(w[0]!.message, /sluice does not implement it yet/);
  // Parsed and defaulted all the same.
  assert.equal(defaultCluster(r.config).policy.connectionPool.tcp.maxConnections, 10);
});

test("the same unimplemented field in several places of one file warns once", () => {
  const text = docs(
    SERVICE_ENTRY,
    destinationRule(
      [
        "  host: grpc-service",
        "  trafficPolicy: {proxyProtocol: {version: V1}}",
        "  subsets:",
        "  - {name: a, labels: {version: v1}, trafficPolicy: {proxyProtocol: {version: V2}}}",
        "  - {name: b, labels: {version: v2}, trafficPolicy: {proxyProtocol: {version: V1}}}",
        "",
      ].join("\n"),
    ),
  );
  const w = warnings(load(text)).filter((x) => /proxyProtocol/.test(x.path));
  assert.equal(w.length, 1);
  assert.equal(w[0]!.line, 18);
});

test("supported fields give no warnings; invalid values inside a warned field are still problems", () => {
  const r = load(
    withPolicy(
      "    loadBalancer: {simple: ROUND_ROBIN}\n    connectionPool: {tcp: {connectTimeout: 2s}, http: {http2MaxRequests: 10, maxRequestsPerConnection: 5}}\n    outlierDetection: {consecutive5xxErrors: 3, consecutiveGatewayErrors: 2, splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 4, interval: 5s, baseEjectionTime: 10s, maxEjectionPercent: 50, minHealthPercent: 30}\n",
    ),
  );
  assert.ok(r.ok);
  assert.deepEqual(r.config.warnings, []);
  oneProblem(
    withPolicy("    tls: {mode: SIMPLEST}\n"),
    /tls\.mode: must be one of DISABLE, SIMPLE, MUTUAL, ISTIO_MUTUAL, got "SIMPLEST" \(did you mean SIMPLE\?\)/,
  );
  oneProblem(withPolicy("    tunnel: {protocol: CONNECT, targetPort: 443}\n"), /tunnel: targetHost is required/);
  oneProblem(
    withPolicy("    connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}\n"),
    /useClientProtocol: must not be true when h2UpgradePolicy is UPGRADE/,
  );
});

test("deprecated consecutiveErrors counts gateway errors and switches 5xx counting off, as in Istio", () => {
  const r = load(withPolicy("    outlierDetection: {consecutiveErrors: 7}\n"));
  assert.ok(r.ok);
  const od = defaultCluster(r.config).policy.outlierDetection;
  assert.equal(od?.consecutiveGatewayErrors, 7);
  assert.equal(od?.consecutive5xxErrors, 0);
  assert.ok(r.config.warnings.some((w) => /deprecated: use consecutiveGatewayErrors/.test(w.message)));
});

test("a DestinationRule whose host no ServiceEntry defines is a problem naming the defined hosts", () => {
  const list = problems(docs(SERVICE_ENTRY, destinationRule("  host: other-service\n")));
  assert.deepEqual(list, ['test.yaml:17 spec.host: host "other-service" is not defined by any ServiceEntry (defined hosts: grpc-service)']);
  oneProblem(destinationRule("  host: grpc-service\n"), /no ServiceEntry defines any host/);
  oneProblem(
    docs(SERVICE_ENTRY, destinationRule("  host: grpc-service\n"), destinationRule("  host: grpc-service\n")),
    /test\.yaml:23 spec\.host: host "grpc-service" already has a DestinationRule at test\.yaml:17/,
  );
});

test("duplicate subset names and portLevelSettings for a port the host lacks are problems", () => {
  oneProblem(docs(SERVICE_ENTRY, destinationRule("  host: grpc-service\n  subsets: [{name: a}, {name: a}]\n")), /subset "a" is defined twice/);
  oneProblem(
    withPolicy("    portLevelSettings: [{port: {number: 8080}, loadBalancer: {simple: RANDOM}}]\n"),
    /portLevelSettings\[0\]\.port\.number: port 8080 is not a port of host grpc-service \(ports: 50051\)/,
  );
  oneProblem(withPolicy("    portLevelSettings: [{loadBalancer: {simple: RANDOM}}]\n"), /portLevelSettings\[0\]: port is required/);
});
