// Building clusters and virtual hosts from several resources and files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadConfigFiles } from "../../src/config/load.js";
import { ISTIO_DEFAULT_RETRY } from "../../src/config/retry.js";
import type { ProxyConfig } from "../../src/config/types.js";
import { repoPath } from "../support/paths.js";
import { destinationRule, docs, mustLoad, oneProblem, SERVICE_ENTRY } from "./helpers.js";

const addresses = (c: ProxyConfig, name: string): string[] => c.clusters.get(name)!.endpoints.map((e) => `${e.address}:${e.port}`);

test("clusters: one per host and port, plus one per subset with endpoints filtered by labels and the subset's policy", () => {
  const c = mustLoad(
    docs(
      SERVICE_ENTRY,
      destinationRule(
        [
          "  host: grpc-service",
          "  trafficPolicy:",
          "    loadBalancer: {simple: ROUND_ROBIN}",
          "    connectionPool: {http: {maxRequestsPerConnection: 10}}",
          "  subsets:",
          "  - {name: v1, labels: {version: v1}}",
          "  - name: v2",
          "    labels: {version: v2}",
          "    trafficPolicy: {loadBalancer: {simple: RANDOM}}",
          "",
        ].join("\n"),
      ),
    ),
  );
  assert.deepEqual([...c.clusters.keys()], ["grpc-service|50051|", "grpc-service|50051|v1", "grpc-service|50051|v2"]);
  assert.deepEqual(addresses(c, "grpc-service|50051|"), ["10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.3:50051"]);
  assert.deepEqual(addresses(c, "grpc-service|50051|v1"), ["10.0.0.1:50051", "10.0.0.2:50051"]);
  assert.deepEqual(addresses(c, "grpc-service|50051|v2"), ["10.0.0.3:50051"]);
  const v1 = c.clusters.get("grpc-service|50051|v1")!.policy;
  const v2 = c.clusters.get("grpc-service|50051|v2")!.policy;
  assert.deepEqual(v1.loadBalancer, { kind: "simple", policy: "ROUND_ROBIN" });
  // The subset replaces loadBalancer only; connectionPool is still the DestinationRule's.
  assert.deepEqual(v2.loadBalancer, { kind: "simple", policy: "RANDOM" });
  assert.equal(v2.connectionPool.http.maxRequestsPerConnection, 10);
  const cluster = c.clusters.get("grpc-service|50051|v2")!;
  assert.equal(cluster.subset, "v2");
  assert.equal(cluster.host, "grpc-service");
  assert.equal(cluster.port, 50051);
  assert.equal(cluster.resolution, "STATIC");
});

test("a subset's connectionPool replaces the DestinationRule's wholesale (unset fields default)", () => {
  const c = mustLoad(
    docs(
      SERVICE_ENTRY,
      destinationRule(
        "  host: grpc-service\n  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 10, http2MaxRequests: 5}}}\n  subsets:\n  - {name: v1, labels: {version: v1}, trafficPolicy: {connectionPool: {http: {http2MaxRequests: 7}}}}\n",
      ),
    ),
  );
  const http = c.clusters.get("grpc-service|50051|v1")!.policy.connectionPool.http;
  assert.equal(http.http2MaxRequests, 7);
  assert.equal(http.maxRequestsPerConnection, 0);
});

const TWO_PORTS = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: two}
spec:
  hosts: [two]
  ports: [{number: 1000, name: a}, {number: 2000, name: b}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.9, labels: {version: v1}}]
`;

test("portLevelSettings override the policy for that port only, without inheriting the rest", () => {
  const c = mustLoad(
    docs(
      TWO_PORTS,
      destinationRule(
        [
          "  host: two",
          "  trafficPolicy:",
          "    loadBalancer: {simple: ROUND_ROBIN}",
          "    connectionPool: {http: {maxRequestsPerConnection: 10}}",
          "    portLevelSettings:",
          "    - port: {number: 2000}",
          "      loadBalancer: {simple: RANDOM}",
          "  subsets:",
          "  - name: v1",
          "    labels: {version: v1}",
          "    trafficPolicy:",
          "      portLevelSettings: [{port: {number: 1000}, connectionPool: {http: {maxRequestsPerConnection: 3}}}]",
          "",
        ].join("\n"),
      ),
    ),
  );
  const p1000 = c.clusters.get("two|1000|")!.policy;
  const p2000 = c.clusters.get("two|2000|")!.policy;
  assert.deepEqual(p1000.loadBalancer, { kind: "simple", policy: "ROUND_ROBIN" });
  assert.equal(p1000.connectionPool.http.maxRequestsPerConnection, 10);
  assert.deepEqual(p2000.loadBalancer, { kind: "simple", policy: "RANDOM" });
  // Istio: "port level settings do not inherit" -- the DR-level connectionPool is not used.
  assert.equal(p2000.connectionPool.http.maxRequestsPerConnection, 0);
  // The subset's port-level entry for 1000 replaces everything for that port.
  const s1000 = c.clusters.get("two|1000|v1")!.policy;
  assert.equal(s1000.connectionPool.http.maxRequestsPerConnection, 3);
  assert.deepEqual(s1000.loadBalancer, { kind: "simple", policy: "LEAST_REQUEST" });
  // ... and only for that port: subset v1 on 2000 keeps the DR's port-level RANDOM.
  assert.deepEqual(c.clusters.get("two|2000|v1")!.policy.loadBalancer, { kind: "simple", policy: "RANDOM" });
});

test("multi-file loading: endpoint ports, targetPort, DNS hosts as endpoints, FQDN short names, routes to subsets with weights", async () => {
  const dir = repoPath("test/fixtures/config/multi");
  const r = await loadConfigFiles([`${dir}/service-entries.yaml`, `${dir}/rules.yaml`]);
  if (!r.ok) assert.fail(r.problems.map((p) => `${p.file}:${p.line} ${p.path}: ${p.message}`).join("\n"));
  const c = r.config;
  const fqdn = "grpc-service.default.svc.cluster.local";
  // endpoint.ports[port.name] ?? port.targetPort ?? port.number
  assert.deepEqual(addresses(c, `${fqdn}|50051|`), ["10.0.0.1:50061", "10.0.0.2:50051"]);
  assert.deepEqual(addresses(c, `${fqdn}|9090|`), ["10.0.0.1:19090", "10.0.0.2:19090"]);
  // The DestinationRule's short host name refers to the FQDN ServiceEntry host.
  assert.deepEqual(addresses(c, `${fqdn}|50051|v2`), ["10.0.0.2:50051"]);
  assert.deepEqual(addresses(c, "billing.example.com|443|"), ["billing.example.com:443"]);
  assert.equal(c.clusters.get("billing.example.com|443|")!.resolution, "DNS");

  assert.equal(c.virtualHosts.length, 2);
  const [vs, billing] = c.virtualHosts;
  assert.deepEqual(vs!.domains, [fqdn, "grpc-service"]);
  assert.deepEqual(vs!.routes, [
    {
      matches: [{ uri: { kind: "prefix", value: "/echo.Echo/" }, headers: [{ name: "x-canary", kind: "exact", value: "yes" }] }],
      destinations: [{ cluster: `${fqdn}|50051|v2`, weight: 100 }],
      timeoutMs: null,
      retry: ISTIO_DEFAULT_RETRY,
    },
    {
      matches: [],
      destinations: [
        { cluster: `${fqdn}|50051|v1`, weight: 90 },
        { cluster: `${fqdn}|50051|v2`, weight: 10 },
      ],
      timeoutMs: 5000,
      retry: ISTIO_DEFAULT_RETRY,
    },
  ]);
  // A host without a VirtualService gets an implicit one to its first port's default cluster.
  assert.deepEqual(billing, {
    domains: ["billing.example.com"],
    routes: [{ matches: [], destinations: [{ cluster: "billing.example.com|443|", weight: 100 }], timeoutMs: null, retry: ISTIO_DEFAULT_RETRY }],
  });
  // Several hosts and no Proxy resource: no default host.
  assert.equal(c.listener.defaultHost, null);
});

test("problems in several files are all reported, each with its own file", async () => {
  const dir = repoPath("test/fixtures/config");
  const r = await loadConfigFiles([`${dir}/bad-a.yaml`, `${dir}/bad-b.yaml`, `${dir}/missing.yaml`]);
  assert.equal(r.ok, false);
  if (r.ok) return;
  const lines = r.problems.map((p) => `${p.file.slice(dir.length + 1)}:${p.line} ${p.path}: ${p.message}`);
  assert.deepEqual(lines, [
    "bad-a.yaml:8 spec.ports[0].number: must be an integer from 1 to 65535, got 70000",
    'bad-b.yaml:6 spec.trafficPolicy.loadBalancer.simple: must be one of UNSPECIFIED, LEAST_CONN, ROUND_ROBIN, RANDOM, PASSTHROUGH, LEAST_REQUEST, got "ROUNDROBIN" (did you mean ROUND_ROBIN?)',
    "missing.yaml:0 : cannot read file: no such file",
  ]);
});

test("route destinations must name defined hosts, subsets and ports", () => {
  const vs = (dest: string): string =>
    docs(
      SERVICE_ENTRY,
      destinationRule("  host: grpc-service\n  subsets: [{name: v1, labels: {version: v1}}]\n"),
      `apiVersion: networking.istio.io/v1\nkind: VirtualService\nspec:\n  hosts: [api]\n  http:\n  - route:\n    - destination: ${dest}\n`,
    );
  oneProblem(
    vs("{host: nowhere}"),
    /spec\.http\[0\]\.route\[0\]\.destination\.host: host "nowhere" is not defined by any ServiceEntry \(defined hosts: grpc-service\)/,
  );
  oneProblem(vs("{host: grpc-service, subset: v9}"), /destination\.subset: subset "v9" is not defined \(subsets of grpc-service: v1\)/);
  oneProblem(vs("{host: grpc-service, port: {number: 1}}"), /destination\.port\.number: port 1 is not a port of host grpc-service \(ports: 50051\)/);
  const c = mustLoad(vs("{host: grpc-service, subset: v1}"));
  assert.deepEqual(
    c.virtualHosts.map((v) => v.domains),
    [["api"], ["grpc-service"]],
  );
});

test("VirtualService validation: match kinds, weights, required route; unimplemented parts warn", () => {
  const vs = (http: string): string =>
    docs(SERVICE_ENTRY, `apiVersion: networking.istio.io/v1\nkind: VirtualService\nspec:\n  hosts: [grpc-service]\n  http:\n${http}`);
  oneProblem(
    vs("  - match: [{uri: {prefix: /a, exact: /b}}]\n    route: [{destination: {host: grpc-service}}]\n"),
    /uri: must set exactly one of exact, prefix, regex, got exact, prefix/,
  );
  oneProblem(vs("  - match: [{uri: {regex: '('}}]\n    route: [{destination: {host: grpc-service}}]\n"), /uri\.regex: is not a valid regular expression/);
  oneProblem(vs("  - timeout: 1s\n"), /spec\.http\[0\]: route is required/);
  oneProblem(
    vs("  - route: [{destination: {host: grpc-service}}, {destination: {host: grpc-service}}]\n"),
    /weights of several destinations must not all be 0/,
  );
  const c = mustLoad(vs("  - retries: {attempts: 3}\n    match: [{port: 50051}]\n    route: [{destination: {host: grpc-service}, weight: 5}]\n"));
  assert.deepEqual(
    c.warnings.map((w) => w.path),
    ["spec.http[0].match[0].port"],
  );
  // A single destination gets all traffic whatever its weight says.
  assert.equal(c.virtualHosts[0]!.routes[0]!.destinations[0]!.weight, 100);
});

test("ServiceEntry validation: ports, endpoint port names, STATIC addresses, duplicate hosts", () => {
  const se = (spec: string): string => `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nspec:\n${spec}`;
  oneProblem(se("  hosts: [a]\n  resolution: DNS\n"), /spec: ports is required/);
  oneProblem(
    se("  hosts: [a]\n  ports: [{number: 1, name: grpc}]\n  resolution: STATIC\n  endpoints: [{address: 10.0.0.1, ports: {grcp: 5}}]\n"),
    /endpoints\[0\]\.ports: "grcp" is not a port name of this ServiceEntry \(did you mean grpc\?\)/,
  );
  oneProblem(
    se("  hosts: [a]\n  ports: [{number: 1, name: grpc}]\n  resolution: STATIC\n  endpoints: [{address: pod-1.local}]\n"),
    /address: must be an IP address with resolution STATIC/,
  );
  oneProblem(se("  hosts: [a]\n  ports: [{number: 1, name: grpc}]\n  resolution: STATIC\n"), /resolution: STATIC needs endpoints/);
  oneProblem(se("  hosts: [a]\n  ports: [{number: 1, name: grpc, protocol: QUIC}]\n  resolution: DNS\n"), /protocol: must be one of GRPC, HTTP2/);
  oneProblem(docs(SERVICE_ENTRY, SERVICE_ENTRY), /test\.yaml:17 spec\.hosts: host "grpc-service" is already defined by the ServiceEntry at test\.yaml:5/);
});

test("ServiceEntry resolution: unset means Istio's NONE (warned), DNS_ROUND_ROBIN is treated as DNS with a warning", () => {
  const se = (extra: string): string =>
    `apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nspec:\n  hosts: [a.example.com]\n  ports: [{number: 443, name: grpc}]\n${extra}`;
  const none = mustLoad(se("  endpoints: [{address: 10.1.1.1}]\n"));
  assert.equal(none.clusters.get("a.example.com|443|")!.resolution, "STATIC");
  assert.match(none.warnings[0]!.message, /NONE is accepted, but sluice does not implement it yet/);
  const rr = mustLoad(se("  resolution: DNS_ROUND_ROBIN\n"));
  assert.equal(rr.clusters.get("a.example.com|443|")!.resolution, "DNS");
  assert.equal(rr.warnings.length, 1);
  assert.equal(rr.warnings[0]!.path, "spec.resolution");
  assert.equal(
    mustLoad(se("  resolution: DNS\n  endpoints: [{address: b.example.com, weight: 3}]\n")).clusters.get("a.example.com|443|")!.endpoints[0]!.weight,
    3,
  );
});
