// What the sluice resolver hands grpc-js, read directly from its listener: the endpoints of
// the listener's default cluster and the service config mapped from the cluster's policy
// (through configFromXds), served by sluice's ADS server on loopback.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { experimental, ServiceConfig } from "@grpc/grpc-js";
import { register } from "../../src/client/register.js";
import { SluiceResolver } from "../../src/client/sluice-resolver.js";
import { buildResources } from "../../src/xds-server/to-xds.js";
import { packAny, TYPE_URL, unpackAny } from "../../src/xds-proto/protos.js";
import { serveAds } from "../support/ads.js";
import { destinationRuleYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { defer, type Owner } from "../support/teardown.js";

register();

const CLUSTER = "outbound|50051||echo";

interface Resolved {
  readonly endpoints: experimental.Endpoint[] | string;
  readonly serviceConfig: ServiceConfig | null;
  readonly note: string;
}

/** A resolver for sluice://127.0.0.1:PORT/echo whose results arrive in order; destroyed when `owner` ends. */
function resolver(owner: Owner, port: number): { next(): Promise<Resolved> } {
  const queue: Resolved[] = [];
  const waiters: ((r: Resolved) => void)[] = [];
  const listener: experimental.ResolverListener = (endpoints, _attrs, serviceConfig, note) => {
    const r: Resolved = {
      endpoints: endpoints.ok ? endpoints.value : endpoints.error.details,
      serviceConfig: serviceConfig === null ? null : serviceConfig.ok ? serviceConfig.value : null,
      note,
    };
    const w = waiters.shift();
    if (w !== undefined) w(r);
    else queue.push(r);
    return true;
  };
  const r = new SluiceResolver({ scheme: "sluice", authority: `127.0.0.1:${port}`, path: "echo" }, listener, {});
  defer(owner, () => r.destroy());
  r.updateResolution();
  return {
    next: () => {
      const q = queue.shift();
      return q !== undefined ? Promise.resolve(q) : new Promise((resolve) => waiters.push(resolve));
    },
  };
}

const ports = (r: Resolved): number[] =>
  typeof r.endpoints === "string"
    ? assert.fail(r.endpoints)
    : r.endpoints.map((e) => {
        const a = e.addresses[0];
        return a !== undefined && "port" in a ? a.port : 0;
      });

test("outlierDetection and ROUND_ROBIN become sluice_outlier around round_robin; a pushed endpoint and a pushed policy each arrive once", async (t) => {
  const dr = (lb: string): string =>
    destinationRuleYaml(
      "echo",
      `    loadBalancer: { simple: ${lb} }\n    outlierDetection: { consecutive5xxErrors: 3, interval: 5s, baseEjectionTime: 1m, maxEjectionPercent: 40 }`,
    );
  const { ads, port } = await serveAds(t, parseConfig(`${serviceEntryYaml("echo", [7001, 7002])}---\n${dr("ROUND_ROBIN")}`));
  const r = resolver(t, port);
  const first = await r.next();
  assert.deepEqual(ports(first), [7001, 7002]);
  assert.deepEqual(first.serviceConfig?.loadBalancingConfig, [
    {
      sluice_outlier: {
        consecutive5xxErrors: 3,
        consecutiveGatewayErrors: 0,
        interval: "5s",
        baseEjectionTime: "1m",
        maxEjectionPercent: 40,
        childPolicy: [{ round_robin: {} }],
      },
    },
  ]);
  ads.update(parseConfig(`${serviceEntryYaml("echo", [7001, 7002, 7003])}---\n${dr("ROUND_ROBIN")}`));
  const second = await r.next();
  assert.deepEqual(ports(second), [7001, 7002, 7003]);
  ads.update(parseConfig(`${serviceEntryYaml("echo", [7001, 7002, 7003])}---\n${dr("LEAST_REQUEST")}`));
  const third = await r.next();
  assert.deepEqual(ports(third), [7001, 7002, 7003]);
  assert.deepEqual((third.serviceConfig?.loadBalancingConfig[0] as { sluice_outlier: { childPolicy: unknown } }).sluice_outlier.childPolicy, [
    { least_request: { choiceCount: 2 } },
  ]);
});

test("a DestinationRule's maxRequestsPerConnection, served by sluice's control plane, becomes the max_requests_per_connection wrapper", async (t) => {
  const { port } = await serveAds(
    t,
    parseConfig(`${serviceEntryYaml("echo", [7001])}---\n${destinationRuleYaml("echo", "    connectionPool: { http: { maxRequestsPerConnection: 50 } }")}`),
  );
  const r = resolver(t, port);
  const got = await r.next();
  assert.deepEqual(got.serviceConfig?.loadBalancingConfig, [
    { max_requests_per_connection: { maxRequestsPerConnection: 50, childPolicy: [{ least_request: { choiceCount: 2 } }] } },
  ]);
});

test("an Envoy-minded control plane's deprecated Cluster field max_requests_per_connection is read too", async (t) => {
  const { ads, port } = await serveAds(t, parseConfig(serviceEntryYaml("echo", [7001])));
  const resources = new Map(buildResources(parseConfig(serviceEntryYaml("echo", [7001]))).byType);
  const clusterAny = resources.get(TYPE_URL.cluster)?.get(CLUSTER) ?? assert.fail("no cluster");
  const cluster = { ...unpackAny(clusterAny), common_http_protocol_options: { max_requests_per_connection: { value: 50 } } };
  resources.set(TYPE_URL.cluster, new Map([[CLUSTER, packAny(TYPE_URL.cluster, cluster)]]));
  ads.setResources({ byType: resources });
  const r = resolver(t, port);
  const got = await r.next();
  assert.deepEqual(got.serviceConfig?.loadBalancingConfig, [
    { max_requests_per_connection: { maxRequestsPerConnection: 50, childPolicy: [{ least_request: { choiceCount: 2 } }] } },
  ]);
});
