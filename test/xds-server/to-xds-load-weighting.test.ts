// ProxyConfig -> xDS resources with `--weights-from-load`: clusters ask for load reports
// (lrs_server: self) and reach gRPC clients' locality weighting through WrrLocality; each
// endpoint sits in a locality of its own carrying the learned weight; Listeners and Routes
// are what they are without it, and consistent hash clusters are left as they are.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildResources, loadWeightedEndpoints } from "../../src/xds-server/to-xds.js";
import { TYPE_URL, unpackAny, type AnyMessage } from "../../src/xds-proto/protos.js";
import { destinationRuleYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";

const CLUSTER = "outbound|50051||echo";
const ECHO = serviceEntryYaml("echo", [7001, 7002, 7003]);
const LEARNED = {
  weights: new Map([
    [
      CLUSTER,
      new Map([
        ["127.0.0.1:7001", 100],
        ["127.0.0.1:7003", 40],
      ]),
    ],
  ]),
};

function resource(yaml: string, typeUrl: string, weighting?: typeof LEARNED): Record<string, unknown> {
  const any = buildResources(parseConfig(yaml), weighting).byType.get(typeUrl)?.get(CLUSTER);
  assert.ok(any !== undefined);
  return unpackAny(any);
}

interface Locality {
  locality: { sub_zone?: string };
  load_balancing_weight: { value: number };
  lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } }; load_balancing_weight: { value: number } }[];
}

test("each endpoint in its own locality (sub_zone ADDRESS:PORT); locality and endpoint weight = learned x configured, unknown = 100", () => {
  const cla = resource(ECHO, TYPE_URL.endpoint, LEARNED) as { endpoints: Locality[] };
  const rows = cla.endpoints.map((l) => [
    l.locality.sub_zone,
    l.load_balancing_weight.value,
    l.lb_endpoints.map((e) => [e.endpoint.address.socket_address.port_value, e.load_balancing_weight.value]),
  ]);
  assert.deepEqual(rows, [
    ["127.0.0.1:7001", 100, [[7001, 100]]],
    ["127.0.0.1:7002", 100, [[7002, 100]]],
    ["127.0.0.1:7003", 40, [[7003, 40]]],
  ]);
  // A configured weight scales the learned one.
  const weighted = serviceEntryYaml("echo", [7001, 7003], "      weight: 3\n");
  const scaled = resource(weighted, TYPE_URL.endpoint, LEARNED) as { endpoints: Locality[] };
  assert.deepEqual(
    scaled.endpoints.map((l) => l.load_balancing_weight.value),
    [300, 120],
  );
  assert.deepEqual(loadWeightedEndpoints(parseConfig(ECHO)), new Map([[CLUSTER, ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]]]));
});

test("the default (LEAST_REQUEST) cluster: lrs_server self, and WrrLocality{LeastRequest, RoundRobin} before the unwrapped policies", () => {
  const cluster = resource(ECHO, TYPE_URL.cluster, LEARNED);
  assert.deepEqual(cluster["lrs_server"], { self: {} });
  assert.equal(cluster["lb_policy"], "ROUND_ROBIN");
  const policies = (cluster["load_balancing_policy"] as { policies: { typed_extension_config: { name: string; typed_config: AnyMessage } }[] }).policies;
  assert.deepEqual(
    policies.map((p) => p.typed_extension_config.name),
    ["envoy.load_balancing_policies.wrr_locality", "envoy.load_balancing_policies.least_request", "envoy.load_balancing_policies.round_robin"],
  );
  const wrr = policies[0]?.typed_extension_config.typed_config;
  assert.equal(wrr?.type_url, TYPE_URL.wrrLocality);
  const inner = (unpackAny(wrr ?? assert.fail())["endpoint_picking_policy"] as { policies: { typed_extension_config: { typed_config: AnyMessage } }[] })
    .policies;
  assert.deepEqual(
    inner.map((p) => p.typed_extension_config.typed_config.type_url),
    [TYPE_URL.leastRequest, TYPE_URL.roundRobin],
  );
});

test("a ROUND_ROBIN cluster gets lrs_server only (gRPC clients wrap lb_policy ROUND_ROBIN in their locality weighting themselves)", () => {
  const yaml = `${ECHO}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }")}`;
  const cluster = resource(yaml, TYPE_URL.cluster, LEARNED);
  assert.deepEqual(cluster["lrs_server"], { self: {} });
  assert.equal(cluster["lb_policy"], "ROUND_ROBIN");
  assert.equal(cluster["load_balancing_policy"], undefined);
});

test("off: byte-identical to the resources without weighting; on: Listeners and Routes unchanged, consistent hash clusters untouched", () => {
  const bytes = (set: ReturnType<typeof buildResources>, t: string): Buffer[] => [...(set.byType.get(t)?.values() ?? [])].map((a) => Buffer.from(a.value));
  const off = buildResources(parseConfig(ECHO));
  const on = buildResources(parseConfig(ECHO), LEARNED);
  for (const t of [TYPE_URL.listener, TYPE_URL.route]) assert.deepEqual(bytes(on, t), bytes(off, t));
  for (const t of [TYPE_URL.cluster, TYPE_URL.endpoint]) assert.notDeepEqual(bytes(on, t), bytes(off, t));
  const hashed = `${ECHO}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { consistentHash: { httpHeaderName: x-user } }")}`;
  const hashOff = buildResources(parseConfig(hashed));
  const hashOn = buildResources(parseConfig(hashed), LEARNED);
  for (const t of [TYPE_URL.listener, TYPE_URL.route, TYPE_URL.cluster, TYPE_URL.endpoint]) assert.deepEqual(bytes(hashOn, t), bytes(hashOff, t));
  assert.deepEqual(loadWeightedEndpoints(parseConfig(hashed)), new Map());
});
