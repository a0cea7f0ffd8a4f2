// Document-level problems: YAML syntax, apiVersion, kind, and reporting all problems at once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { destinationRule, docs, load, mustLoad, oneProblem, problems, SERVICE_ENTRY } from "./helpers.js";

test("malformed YAML is a problem with its line, and other documents are still checked", () => {
  const text = docs(
    SERVICE_ENTRY,
    "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nspec:\n  host: [grpc-service\n",
    destinationRule("  host: nowhere\n"),
  );
  const list = problems(text);
  assert.ok(
    list.some((p) => /^test\.yaml:17: invalid YAML: Flow sequence/.test(p)),
    list.join("\n"),
  );
  // The third document is still read: its undefined host is reported too.
  assert.ok(
    list.some((p) => /spec\.host: host "nowhere" is not defined/.test(p)),
    list.join("\n"),
  );
});

test("duplicate keys are reported as invalid YAML", () => {
  oneProblem(
    docs(SERVICE_ENTRY, destinationRule("  host: grpc-service\n  host: grpc-service\n")),
    /^test\.yaml:18 : invalid YAML: Map keys must be unique|^test\.yaml:18: invalid YAML: Map keys must be unique/,
  );
});

test("a wrong apiVersion names the allowed ones; a wrong kind names the kinds", () => {
  const p = oneProblem(docs(SERVICE_ENTRY, destinationRule("  host: grpc-service\n", "networking.istio.io/v2")), /apiVersion: must be one of/);
  assert.equal(
    p,
    'test.yaml:13 apiVersion: must be one of networking.istio.io/v1, networking.istio.io/v1beta1, networking.istio.io/v1alpha3 for kind DestinationRule, got "networking.istio.io/v2"',
  );
  const proxy = oneProblem("apiVersion: networking.istio.io/v1\nkind: Proxy\nspec: {}\n", /apiVersion/);
  assert.match(proxy, /must be one of sluice\.dev\/v1alpha1 for kind Proxy/);
  const kind = oneProblem(docs(SERVICE_ENTRY, "apiVersion: networking.istio.io/v1\nkind: DestinationRules\nspec: {}\n"), /kind/);
  assert.equal(
    kind,
    'test.yaml:14 kind: must be one of DestinationRule, ServiceEntry, VirtualService, Proxy, got "DestinationRules" (did you mean DestinationRule?)',
  );
  oneProblem("apiVersion: networking.istio.io/v1\nspec: {}\n", /kind is required/);
});

for (const v of ["networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"]) {
  test(`Istio apiVersion ${v} is accepted`, () => {
    mustLoad(docs(SERVICE_ENTRY, destinationRule("  host: grpc-service\n", v)));
  });
}

test("a document that is not a map, or has no spec, is a problem; empty documents are skipped", () => {
  oneProblem(docs(SERVICE_ENTRY, "- just\n- a list\n"), /^test\.yaml:13: a resource must be a map/);
  oneProblem(docs(SERVICE_ENTRY, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: x}\n"), /spec is required/);
  mustLoad(docs("", SERVICE_ENTRY, "", ""));
});

test("a text with no resources is a problem", () => {
  const r = load("# nothing here\n");
  assert.equal(r.ok, false);
});

test("all problems are reported at once, each with its own line", () => {
  const dr = destinationRule(
    [
      "  host: grpc-service", // line 17
      "  trafficPolicy:",
      "    loadBalancer:",
      "      simple: FASTEST", // 20
      "    connectionPool:",
      "      tcp:",
      "        connectTimeout: 10", // 23
      "      http:",
      '        maxRequestsPerConnection: "ten"', // 25
      "        http2MaxRequest: 5", // 26
      "",
    ].join("\n"),
  );
  const list = problems(docs(SERVICE_ENTRY, dr), {}, "grpc.yaml");
  assert.deepEqual(list, [
    'grpc.yaml:20 spec.trafficPolicy.loadBalancer.simple: must be one of UNSPECIFIED, LEAST_CONN, ROUND_ROBIN, RANDOM, PASSTHROUGH, LEAST_REQUEST, got "FASTEST"',
    'grpc.yaml:23 spec.trafficPolicy.connectionPool.tcp.connectTimeout: must be a duration like "10s", "1.5s", "500ms", "30m" or "1h" (>= 1ms), got 10 (add a unit, e.g. "10s")',
    'grpc.yaml:25 spec.trafficPolicy.connectionPool.http.maxRequestsPerConnection: must be an integer >= 0, got "ten"',
    "grpc.yaml:26 spec.trafficPolicy.connectionPool.http.http2MaxRequest: unknown field (did you mean http2MaxRequests?)",
  ]);
});
