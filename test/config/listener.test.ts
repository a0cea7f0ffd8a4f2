// The sluice Proxy resource, listener defaults, default-host rules and CLI overrides.
import { test } from "node:test";
import assert from "node:assert/strict";
import { docs, load, mustLoad, oneProblem, problems, SERVICE_ENTRY } from "./helpers.js";

const proxy = (spec: string): string => `apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: {name: sluice}\nspec:\n${spec}`;
const OTHER = SERVICE_ENTRY.replaceAll("grpc-service", "other-service");

test("without a Proxy resource the listener has sluice's defaults", () => {
  assert.deepEqual(mustLoad(SERVICE_ENTRY).listener, {
    listen: { host: "127.0.0.1", port: 15001 },
    admin: null,
    mode: "request",
    transport: "h2",
    defaultHost: "grpc-service",
    downstream: {
      keepalive: { timeMs: null, timeoutMs: 20_000, minPingIntervalMs: 300_000, permitWithoutCalls: false },
      maxConnectionAgeMs: null,
      maxConnectionAgeGraceMs: null,
      maxConnectionIdleMs: null,
    },
    upstream: { keepalive: { timeMs: null, timeoutMs: 20_000 } },
    leastRequestChoiceCount: 2,
    drainTimeoutMs: 5000,
  });
});

test("every Proxy field is parsed", () => {
  const c = mustLoad(
    docs(
      SERVICE_ENTRY,
      OTHER,
      proxy(
        [
          "  listen: 0.0.0.0:8080",
          '  admin: "[::1]:9901"',
          "  mode: connection",
          "  transport: h2",
          "  defaultHost: other-service",
          "  downstream:",
          "    keepalive: {time: 2h, timeout: 10s, minPingInterval: 1m, permitWithoutCalls: true}",
          "    maxConnectionAge: 30m",
          "    maxConnectionAgeGrace: 5s",
          "    maxConnectionIdle: 15m",
          "  upstream:",
          "    keepalive: {time: 10m, timeout: 5s}",
          "  leastRequest: {choiceCount: 3}",
          "  drainTimeout: 45s",
          "",
        ].join("\n"),
      ),
    ),
  );
  assert.deepEqual(c.listener, {
    listen: { host: "0.0.0.0", port: 8080 },
    admin: { host: "::1", port: 9901 },
    mode: "connection",
    transport: "h2",
    defaultHost: "other-service",
    downstream: {
      keepalive: { timeMs: 7_200_000, timeoutMs: 10_000, minPingIntervalMs: 60_000, permitWithoutCalls: true },
      maxConnectionAgeMs: 1_800_000,
      maxConnectionAgeGraceMs: 5000,
      maxConnectionIdleMs: 900_000,
    },
    upstream: { keepalive: { timeMs: 600_000, timeoutMs: 5000 } },
    leastRequestChoiceCount: 3,
    drainTimeoutMs: 45_000,
  });
  // The admin server is parsed but not built yet.
  assert.deepEqual(
    c.warnings.map((w) => w.path),
    ["spec.admin"],
  );
});

test("Proxy validation: addresses, mode, choiceCount >= 2, unknown defaultHost, at most one Proxy", () => {
  oneProblem(docs(SERVICE_ENTRY, proxy("  listen: localhost\n")), /spec\.listen: must be host:port such as "127\.0\.0\.1:15001" or "\[::1\]:15001", got "localhost"/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  mode: pinned\n")), /spec\.mode: must be one of request, connection, got "pinned"/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  leastRequest: {choiceCount: 1}\n")), /choiceCount: must be an integer from 2 to 100, got 1/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  defaultHost: nowhere\n")), /spec\.defaultHost: "nowhere" is not a defined host \(defined hosts: grpc-service\)/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  mode: request\n"), proxy("  mode: request\n")), /test\.yaml:19 kind: at most one Proxy resource is allowed; another is at test\.yaml:13/);
});

test("upstream keepalive: time and timeout are durations, each defaulted alone; a time under 5m warns", () => {
  const ka = (spec: string): unknown => mustLoad(docs(SERVICE_ENTRY, proxy(spec))).listener.upstream.keepalive;
  assert.deepEqual(ka("  upstream: {keepalive: {time: 1h}}\n"), { timeMs: 3_600_000, timeoutMs: 20_000 });
  assert.deepEqual(ka("  upstream: {keepalive: {timeout: 1s}}\n"), { timeMs: null, timeoutMs: 1000 });
  assert.deepEqual(ka("  upstream: {}\n"), { timeMs: null, timeoutMs: 20_000 });
  assert.deepEqual(
    problems(docs(SERVICE_ENTRY, proxy("  upstream:\n    keepalive: {time: 10, timeout: soon}\n    keepAlive: {}\n"))),
    [
      'test.yaml:18 spec.upstream.keepalive.time: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got 10 (add a unit, e.g. "10s")',
      'test.yaml:18 spec.upstream.keepalive.timeout: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got "soon"',
      "test.yaml:19 spec.upstream.keepAlive: unknown field (did you mean keepalive?)",
    ],
  );
  const r = load(docs(SERVICE_ENTRY, proxy("  upstream: {keepalive: {time: 30s}}\n")));
  assert.ok(r.ok);
  assert.deepEqual(r.config.listener.upstream.keepalive, { timeMs: 30_000, timeoutMs: 20_000 });
  assert.deepEqual(
    r.config.warnings.map((w) => `${w.line} ${w.path}: ${w.message}`),
    ["17 spec.upstream.keepalive.time: pings every 30s: gRPC backends left at their defaults allow one every 5m and answer more with GOAWAY too_many_pings (raise their permitKeepAliveTime / MinTime)"],
  );
  assert.deepEqual(mustLoad(docs(SERVICE_ENTRY, proxy("  upstream: {keepalive: {time: 5m}}\n"))).warnings, []);
});

test("default host: the Proxy's defaultHost, else the only host, else none", () => {
  assert.equal(mustLoad(SERVICE_ENTRY).listener.defaultHost, "grpc-service");
  assert.equal(mustLoad(docs(SERVICE_ENTRY, OTHER)).listener.defaultHost, null);
  assert.equal(mustLoad(docs(SERVICE_ENTRY, OTHER, proxy("  defaultHost: grpc-service\n"))).listener.defaultHost, "grpc-service");
});

test("CLI overrides win over the Proxy resource, which wins over defaults", () => {
  const text = docs(SERVICE_ENTRY, OTHER, proxy("  listen: 127.0.0.1:7000\n  admin: 127.0.0.1:7001\n  mode: connection\n  defaultHost: grpc-service\n"));
  const fromResource = mustLoad(text).listener;
  assert.deepEqual([fromResource.listen.port, fromResource.admin?.port, fromResource.mode, fromResource.defaultHost], [7000, 7001, "connection", "grpc-service"]);
  const overridden = mustLoad(text, { listen: "127.0.0.1:0", admin: "none", mode: "request", defaultHost: "other-service" }).listener;
  assert.deepEqual(overridden.listen, { host: "127.0.0.1", port: 0 });
  assert.equal(overridden.admin, null);
  assert.equal(overridden.mode, "request");
  assert.equal(overridden.defaultHost, "other-service");
  assert.equal(mustLoad(docs(SERVICE_ENTRY, proxy("  transport: node\n")), { transport: "h2" }).listener.transport, "h2");
  assert.deepEqual(mustLoad(SERVICE_ENTRY, { admin: "localhost:9901" }).listener.admin, { host: "localhost", port: 9901 });
  assert.equal(mustLoad(docs(SERVICE_ENTRY, proxy("  drainTimeout: 1m\n")), { drainTimeout: "2s" }).listener.drainTimeoutMs, 2000);
});

test("bad override values are problems naming the flag", () => {
  assert.deepEqual(problems(SERVICE_ENTRY, { listen: "nope", admin: "1.2.3.4:99999", mode: "fast", transport: "quic", defaultHost: "x", drainTimeout: "soon" }), [
    '(command line) --listen: must be host:port such as "127.0.0.1:15001" or "[::1]:15001", got "nope"',
    '(command line) --admin: must be host:port such as "127.0.0.1:15001" or "[::1]:15001" or "none", got "1.2.3.4:99999"',
    '(command line) --mode: must be one of request, connection, got "fast"',
    '(command line) --transport: must be one of h2, node, got "quic"',
    '(command line) --default-host: "x" is not a defined host (defined hosts: grpc-service)',
    '(command line) --drain-timeout: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got "soon"',
  ]);
  assert.equal(load(SERVICE_ENTRY, { listen: "[::]:15001" }).ok, true);
});
