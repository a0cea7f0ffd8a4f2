// The sluice Proxy resource, listener defaults, default-host rules and CLI overrides.
import { test } from "node:test";
import assert from "node:assert/strict";
import { docs, load, mustLoad, oneProblem, problems, SERVICE_ENTRY } from "./helpers.js";

const proxy = (spec: string): string => `apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: {name: sluice}\nspec:\n${spec}`;
const OTHER = SERVICE_ENTRY.replaceAll("grpc-service", "other-service");

test("without a Proxy resource the listener has sluice's defaults", () => {
  assert.deepEqual(mustLoad(SERVICE_ENTRY).listener, {
    listen: { host: "127.0.0.1", port: 15001 },
    tls: null,
    workloadCertificates: { directory: "/etc/certs", trustDomain: "cluster.local" },
    admin: { host: "127.0.0.1", port: 15000, configured: false },
    mode: "request",
    transport: "h2",
    defaultHost: "grpc-service",
    downstream: {
      keepalive: { timeMs: null, timeoutMs: 20_000, minPingIntervalMs: 300_000, permitWithoutCalls: false },
      maxConnectionAgeMs: null,
      maxConnectionAgeGraceMs: null,
      maxConnectionIdleMs: 3_600_000,
      maxConcurrentStreams: 1000,
      maxConnections: 10_000,
      maxPrematureCancelsPerSecond: 1000,
    },
    upstream: { keepalive: { timeMs: null, timeoutMs: 20_000 } },
    leastRequestChoiceCount: 2,
    retryBufferLimit: 65_536,
    retryBufferBudget: 16_777_216,
    latencyOutlier: null,
    healthCheck: null,
    drainTimeoutMs: 5000,
    accessLog: false,
    imbalanceWarning: { threshold: 1.5, windowMs: 30_000 },
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
          "    maxConcurrentStreams: 250",
          "    maxConnections: 500",
          "    maxPrematureCancelsPerSecond: 50",
          "  upstream:",
          "    keepalive: {time: 10m, timeout: 5s}",
          "  leastRequest: {choiceCount: 3}",
          "  retryBufferLimit: 1048576",
          "  retryBufferBudget: 8388608",
          "  outlierDetection:",
          "    latency: {factor: 2.5, minRequests: 50}",
          "  healthCheck: {interval: 10s, timeout: 2s, unhealthyThreshold: 3, healthyThreshold: 2, serviceName: echo.Echo, hosts: [other-service]}",
          "  drainTimeout: 45s",
          "  accessLog: true",
          "  imbalanceWarning: {threshold: 2, window: 1m}",
          "",
        ].join("\n"),
      ),
    ),
  );
  assert.deepEqual(c.listener, {
    listen: { host: "0.0.0.0", port: 8080 },
    tls: null,
    workloadCertificates: { directory: "/etc/certs", trustDomain: "cluster.local" },
    admin: { host: "::1", port: 9901, configured: true },
    mode: "connection",
    transport: "h2",
    defaultHost: "other-service",
    downstream: {
      keepalive: { timeMs: 7_200_000, timeoutMs: 10_000, minPingIntervalMs: 60_000, permitWithoutCalls: true },
      maxConnectionAgeMs: 1_800_000,
      maxConnectionAgeGraceMs: 5000,
      maxConnectionIdleMs: 900_000,
      maxConcurrentStreams: 250,
      maxConnections: 500,
      maxPrematureCancelsPerSecond: 50,
    },
    upstream: { keepalive: { timeMs: 600_000, timeoutMs: 5000 } },
    leastRequestChoiceCount: 3,
    retryBufferLimit: 1_048_576,
    retryBufferBudget: 8_388_608,
    latencyOutlier: { factor: 2.5, minRequests: 50 },
    healthCheck: { intervalMs: 10_000, timeoutMs: 2000, unhealthyThreshold: 3, healthyThreshold: 2, serviceName: "echo.Echo", hosts: ["other-service"] },
    drainTimeoutMs: 45_000,
    accessLog: true,
    imbalanceWarning: { threshold: 2, windowMs: 60_000 },
  });
  assert.deepEqual(c.warnings, []);
});

test("downstream limits: an hour's idle timeout unless set, 0s turns it off; maxConnections and maxConcurrentStreams at least 1", () => {
  const ds = (spec: string) => mustLoad(docs(SERVICE_ENTRY, proxy(spec))).listener.downstream;
  assert.equal(ds("  mode: request\n").maxConnectionIdleMs, 3_600_000);
  assert.equal(ds("  downstream: {maxConnectionIdle: 0s}\n").maxConnectionIdleMs, null);
  assert.equal(ds("  downstream: {maxConnectionIdle: 90s}\n").maxConnectionIdleMs, 90_000);
  oneProblem(docs(SERVICE_ENTRY, proxy("  downstream: {maxConnectionAge: 0s}\n")), /maxConnectionAge: must be >= 1ms/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  downstream: {maxConnections: 0}\n")), /maxConnections/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  downstream: {maxConcurrentStreams: 0}\n")), /maxConcurrentStreams/);
});

test("imbalanceWarning: fields default alone; the threshold must be over 1", () => {
  const iw = (spec: string): unknown => mustLoad(docs(SERVICE_ENTRY, proxy(spec))).listener.imbalanceWarning;
  assert.deepEqual(iw("  imbalanceWarning: {window: 5s}\n"), { threshold: 1.5, windowMs: 5000 });
  assert.deepEqual(iw("  imbalanceWarning: {threshold: 3}\n"), { threshold: 3, windowMs: 30_000 });
  oneProblem(docs(SERVICE_ENTRY, proxy("  imbalanceWarning: {threshold: 1}\n")), /spec\.imbalanceWarning\.threshold: must be a number > 1/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  accessLog: yes please\n")), /spec\.accessLog/);
});

test("Proxy validation: addresses, mode, choiceCount >= 2, unknown defaultHost, at most one Proxy", () => {
  oneProblem(
    docs(SERVICE_ENTRY, proxy("  listen: localhost\n")),
    /spec\.listen: must be host:port such as "127\.0\.0\.1:15001" or "\[::1\]:15001", got "localhost"/,
  );
  oneProblem(docs(SERVICE_ENTRY, proxy("  mode: pinned\n")), /spec\.mode: must be one of request, connection, got "pinned"/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  leastRequest: {choiceCount: 1}\n")), /choiceCount: must be an integer from 2 to 100, got 1/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  defaultHost: nowhere\n")), /spec\.defaultHost: "nowhere" is not a defined host \(defined hosts: grpc-service\)/);
  oneProblem(
    docs(SERVICE_ENTRY, proxy("  mode: request\n"), proxy("  mode: request\n")),
    /test\.yaml:19 kind: at most one Proxy resource is allowed; another is at test\.yaml:13/,
  );
});

test("upstream keepalive: time and timeout are durations, each defaulted alone; a time under 5m warns", () => {
  const ka = (spec: string): unknown => mustLoad(docs(SERVICE_ENTRY, proxy(spec))).listener.upstream.keepalive;
  assert.deepEqual(ka("  upstream: {keepalive: {time: 1h}}\n"), { timeMs: 3_600_000, timeoutMs: 20_000 });
  assert.deepEqual(ka("  upstream: {keepalive: {timeout: 1s}}\n"), { timeMs: null, timeoutMs: 1000 });
  assert.deepEqual(ka("  upstream: {}\n"), { timeMs: null, timeoutMs: 20_000 });
  assert.deepEqual(problems(docs(SERVICE_ENTRY, proxy("  upstream:\n    keepalive: {time: 10, timeout: soon}\n    keepAlive: {}\n"))), [
    'test.yaml:18 spec.upstream.keepalive.time: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got 10 (add a unit, e.g. "10s")',
    'test.yaml:18 spec.upstream.keepalive.timeout: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got "soon"',
    "test.yaml:19 spec.upstream.keepAlive: unknown field (did you mean keepalive?)",
  ]);
  const r = load(docs(SERVICE_ENTRY, proxy("  upstream: {keepalive: {time: 30s}}\n")));
  assert.ok(r.ok);
  assert.deepEqual(r.config.listener.upstream.keepalive, { timeMs: 30_000, timeoutMs: 20_000 });
  assert.deepEqual(
    r.config.warnings.map((w) => `${w.line} ${w.path}: ${w.message}`),
    [
      "17 spec.upstream.keepalive.time: pings every 30s: gRPC backends left at their defaults allow one every 5m and answer more with GOAWAY too_many_pings (raise their permitKeepAliveTime / MinTime)",
    ],
  );
  assert.deepEqual(mustLoad(docs(SERVICE_ENTRY, proxy("  upstream: {keepalive: {time: 5m}}\n"))).warnings, []);
});

test("latency outlier rule: off by default, on with defaults once named, factor > 1 and minRequests >= 1", () => {
  const latency = (spec: string): unknown => mustLoad(docs(SERVICE_ENTRY, proxy(spec))).listener.latencyOutlier;
  assert.equal(latency("  outlierDetection: {}\n"), null);
  assert.deepEqual(latency("  outlierDetection: {latency: {}}\n"), { factor: 3, minRequests: 20 });
  assert.deepEqual(latency("  outlierDetection: {latency: {factor: 4}}\n"), { factor: 4, minRequests: 20 });
  assert.deepEqual(problems(docs(SERVICE_ENTRY, proxy("  outlierDetection:\n    latency: {factor: 1, minRequests: 0}\n"))), [
    "test.yaml:18 spec.outlierDetection.latency.factor: must be a number > 1 (an endpoint is an outlier when its p99 is over factor x the others' median p99), got 1",
    "test.yaml:18 spec.outlierDetection.latency.minRequests: must be an integer from 1 to 1000000, got 0",
  ]);
  oneProblem(
    docs(SERVICE_ENTRY, proxy("  outlierDetection: {latency: {factor: three}}\n")),
    /spec\.outlierDetection\.latency\.factor: must be a number >= 1, got "three"/,
  );
  oneProblem(docs(SERVICE_ENTRY, proxy("  outlierDetection: {latncy: {}}\n")), /spec\.outlierDetection\.latncy: unknown field \(did you mean latency\?\)/);
});

test("healthCheck: present turns health checks on, each field defaulted alone; hosts resolve to ServiceEntry hosts", () => {
  const hc = (spec: string): unknown => mustLoad(docs(SERVICE_ENTRY, OTHER, proxy(spec))).listener.healthCheck;
  assert.deepEqual(hc("  healthCheck: {}\n"), { intervalMs: 5000, timeoutMs: 1000, unhealthyThreshold: 2, healthyThreshold: 1, serviceName: "", hosts: null });
  assert.deepEqual(hc("  healthCheck: {timeout: 250ms}\n"), {
    intervalMs: 5000,
    timeoutMs: 250,
    unhealthyThreshold: 2,
    healthyThreshold: 1,
    serviceName: "",
    hosts: null,
  });
  const fqdn = SERVICE_ENTRY.replace("hosts: [grpc-service]", "hosts: [grpc-service.default.svc.cluster.local]");
  const c = mustLoad(docs(fqdn, OTHER, proxy("  healthCheck: {hosts: [grpc-service, other-service, GRPC-SERVICE]}\n")));
  assert.deepEqual(c.listener.healthCheck?.hosts, ["grpc-service.default.svc.cluster.local", "other-service"]);
});

test("healthCheck validation: durations, thresholds >= 1, hosts defined and not empty, unknown fields", () => {
  assert.deepEqual(
    problems(
      docs(
        SERVICE_ENTRY,
        proxy(
          "  healthCheck:\n    interval: 5\n    timeout: soon\n    unhealthyThreshold: 0\n    healthyThreshold: two\n    serviceName: 7\n    hosts: [grpc-service, nowhere]\n    intervall: 1s\n",
        ),
      ),
    ),
    [
      'test.yaml:18 spec.healthCheck.interval: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got 5 (add a unit, e.g. "5s")',
      'test.yaml:19 spec.healthCheck.timeout: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got "soon"',
      "test.yaml:20 spec.healthCheck.unhealthyThreshold: must be an integer >= 1, got 0",
      'test.yaml:21 spec.healthCheck.healthyThreshold: must be an integer >= 1, got "two"',
      "test.yaml:22 spec.healthCheck.serviceName: must be a string, got 7",
      'test.yaml:23 spec.healthCheck.hosts[1]: host "nowhere" is not defined by any ServiceEntry (defined hosts: grpc-service)',
      "test.yaml:24 spec.healthCheck.intervall: unknown field (did you mean interval?)",
    ],
  );
  oneProblem(
    docs(SERVICE_ENTRY, proxy("  healthCheck: {hosts: []}\n")),
    /spec\.healthCheck\.hosts: must name at least one ServiceEntry host; leave it out to check every host/,
  );
  oneProblem(docs(SERVICE_ENTRY, proxy("  healthCheck: true\n")), /spec\.healthCheck: must be a map, got true/);
});

test("default host: the Proxy's defaultHost, else the only host, else none", () => {
  assert.equal(mustLoad(SERVICE_ENTRY).listener.defaultHost, "grpc-service");
  assert.equal(mustLoad(docs(SERVICE_ENTRY, OTHER)).listener.defaultHost, null);
  assert.equal(mustLoad(docs(SERVICE_ENTRY, OTHER, proxy("  defaultHost: grpc-service\n"))).listener.defaultHost, "grpc-service");
});

test("CLI overrides win over the Proxy resource, which wins over defaults", () => {
  const text = docs(SERVICE_ENTRY, OTHER, proxy("  listen: 127.0.0.1:7000\n  admin: 127.0.0.1:7001\n  mode: connection\n  defaultHost: grpc-service\n"));
  const fromResource = mustLoad(text).listener;
  assert.deepEqual(
    [fromResource.listen.port, fromResource.admin?.port, fromResource.mode, fromResource.defaultHost],
    [7000, 7001, "connection", "grpc-service"],
  );
  const overridden = mustLoad(text, { listen: "127.0.0.1:0", admin: "none", mode: "request", defaultHost: "other-service" }).listener;
  assert.deepEqual(overridden.listen, { host: "127.0.0.1", port: 0 });
  assert.equal(overridden.admin, null);
  assert.equal(overridden.mode, "request");
  assert.equal(overridden.defaultHost, "other-service");
  assert.equal(mustLoad(docs(SERVICE_ENTRY, proxy("  transport: node\n")), { transport: "h2" }).listener.transport, "h2");
  assert.deepEqual(mustLoad(SERVICE_ENTRY, { admin: "localhost:9901" }).listener.admin, { host: "localhost", port: 9901, configured: true });
  assert.equal(mustLoad(docs(SERVICE_ENTRY, proxy("  drainTimeout: 1m\n")), { drainTimeout: "2s" }).listener.drainTimeoutMs, 2000);
});

test("the admin server: on 127.0.0.1:15000 unless told otherwise; a bare port is on loopback; none turns it off", () => {
  const admin = (spec: string, flag?: string) => mustLoad(docs(SERVICE_ENTRY, proxy(spec)), flag === undefined ? {} : { admin: flag }).listener.admin;
  assert.deepEqual(admin("  mode: request\n"), { host: "127.0.0.1", port: 15000, configured: false });
  assert.deepEqual(admin("  admin: 15010\n"), { host: "127.0.0.1", port: 15010, configured: true });
  assert.deepEqual(admin('  admin: "0"\n'), { host: "127.0.0.1", port: 0, configured: true });
  assert.deepEqual(admin("  admin: 0.0.0.0:15000\n"), { host: "0.0.0.0", port: 15000, configured: true });
  assert.equal(admin("  admin: none\n"), null);
  assert.equal(admin("  admin: 127.0.0.1:9\n", "none"), null);
  assert.equal(admin("  admin: 127.0.0.1:9\n", ""), null);
  assert.deepEqual(admin("  admin: none\n", "15020"), { host: "127.0.0.1", port: 15020, configured: true });
  oneProblem(
    docs(SERVICE_ENTRY, proxy("  admin: 70000\n")),
    /spec\.admin: must be host:port such as "127\.0\.0\.1:15001" or "\[::1\]:15001", a port \(on 127\.0\.0\.1\), or "none", got 70000$/,
  );
  oneProblem(docs(SERVICE_ENTRY, proxy("  admin: [1, 2]\n")), /spec\.admin: must be a string or a number, got/);
  oneProblem(docs(SERVICE_ENTRY, proxy("  admin: true\n")), /spec\.admin: must be a string or a number, got true/);
});

test("bad override values are problems naming the flag", () => {
  assert.deepEqual(
    problems(SERVICE_ENTRY, { listen: "nope", admin: "1.2.3.4:99999", mode: "fast", transport: "quic", defaultHost: "x", drainTimeout: "soon" }),
    [
      '(command line) --listen: must be host:port such as "127.0.0.1:15001" or "[::1]:15001", got "nope"',
      '(command line) --admin: must be host:port such as "127.0.0.1:15001" or "[::1]:15001", a port (on 127.0.0.1), or "none", got "1.2.3.4:99999"',
      '(command line) --mode: must be one of request, connection, got "fast"',
      '(command line) --transport: must be one of h2, node, got "quic"',
      '(command line) --default-host: "x" is not a defined host (defined hosts: grpc-service)',
      '(command line) --drain-timeout: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got "soon"',
    ],
  );
  assert.equal(load(SERVICE_ENTRY, { listen: "[::]:15001" }).ok, true);
});
