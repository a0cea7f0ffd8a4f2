// The admin server end to end: real grpc-js pods and clients through a real proxy, then
// /metrics (exact counters and labels, parsed as Prometheus text), /clusters (an ejected
// endpoint), /config_dump, /healthz and /ready (503 while starting and draining).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { callUnary } from "../../src/demo/echo-client.js";
import { DURATION_BUCKETS_MS } from "../../src/admin/rpc-stats.js";
import type { ClusterView } from "../../src/admin/clusters-view.js";
import { destinationRuleYaml, listenerYaml, md, serviceEntryYaml } from "../support/cluster.js";
import { parsePrometheus, sampleValue, twoPodsOneStrike, withAdmin } from "../support/admin.js";
import { clientFor } from "../support/calls.js";
import { proxyInFront } from "../support/proxy-with-pods.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const HOST = "grpc-service";
const CLUSTER = "grpc-service|50051|";
const payload = Buffer.from("hi");

for (const transport of TEST_TRANSPORTS) {
  describe(`admin server (${transport} transport)`, () => {
    test("/metrics: Istio's request counter and duration histogram, retries, per-endpoint series, exact values", async (t) => {
      const [pod] = await scriptedPods(t, 1);
      const p = await proxyInFront(t, [pod!], {
        config: () => [serviceEntryYaml(HOST, [pod!.port]) + "---\n" + listenerYaml("  admin: 127.0.0.1:0\n", transport)],
        start: withAdmin(),
        client: { "grpc.default_authority": HOST },
      });
      const { client } = p;
      for (let i = 0; i < 3; i++) assert.equal((await callUnary(client, payload)).code, 0);
      // NOT_FOUND is not retried; UNAVAILABLE is, twice, by Istio's default retry policy.
      assert.equal((await callUnary(client, payload, md({ "x-echo-status": "5" }))).code, 5);
      // Trailers-only, so nothing reached the client and the proxy may retry.
      assert.equal((await callUnary(client, payload, md({ "x-echo-status": "14", "x-echo-trailers-only": "1" }))).code, 14);

      const r = await p.get("/metrics");
      assert.equal(r.status, 200);
      assert.match(r.type ?? "", /^text\/plain; version=0\.0\.4/);
      const { samples, types } = parsePrometheus(r.body);
      const istio = { reporter: "source", destination_service: HOST, destination_service_name: HOST, request_protocol: "grpc", response_code: "200" };
      assert.equal(types.get("istio_requests_total"), "counter");
      assert.equal(sampleValue(samples, "istio_requests_total", { ...istio, grpc_response_status: "0" }), 3);
      assert.equal(sampleValue(samples, "istio_requests_total", { ...istio, grpc_response_status: "5" }), 1);
      assert.equal(sampleValue(samples, "istio_requests_total", { ...istio, grpc_response_status: "14" }), 1);
      assert.equal(samples.filter((s) => s.name === "istio_requests_total").length, 3);
      assert.deepEqual(Object.keys(samples.find((s) => s.name === "istio_requests_total")!.labels).sort(), [
        "destination_canonical_service",
        "destination_service",
        "destination_service_name",
        "destination_service_namespace",
        "destination_workload",
        "destination_workload_namespace",
        "grpc_response_status",
        "reporter",
        "request_protocol",
        "response_code",
        "response_flags",
        "source_canonical_service",
        "source_workload",
        "source_workload_namespace",
      ]);

      assert.equal(types.get("istio_request_duration_milliseconds"), "histogram");
      const ok = { ...istio, grpc_response_status: "0" };
      assert.equal(sampleValue(samples, "istio_request_duration_milliseconds_count", ok), 3);
      assert.equal(sampleValue(samples, "istio_request_duration_milliseconds_bucket", { ...ok, le: "+Inf" }), 3);
      const buckets = samples.filter((s) => s.name === "istio_request_duration_milliseconds_bucket" && s.labels["grpc_response_status"] === "0");
      assert.deepEqual(
        buckets.map((b) => b.labels["le"]),
        [...DURATION_BUCKETS_MS.map(String), "+Inf"],
      );
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, "cumulative buckets");
      assert.ok(sampleValue(samples, "istio_request_duration_milliseconds_sum", ok) > 0);

      const cluster = { cluster_name: CLUSTER };
      const endpoint = { ...cluster, endpoint: `127.0.0.1:${pod!.port}` };
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_retry", cluster), 2);
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_retry_limit_exceeded", cluster), 1);
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_retry_success", cluster), 0);
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_retry_overflow", cluster), 0);
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_pending_overflow", cluster), 0);
      // Every attempt, as Envoy counts: 3 OK, 1 NOT_FOUND, and UNAVAILABLE tried 3 times.
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_total", endpoint), 7);
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_active", endpoint), 0);
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_cx_active", endpoint), 1);
      assert.equal(sampleValue(samples, "sluice_endpoint_state", { ...endpoint, state: "READY" }), 1);
      assert.equal(sampleValue(samples, "sluice_endpoint_state", { ...endpoint, state: "IDLE" }), 0);
      assert.equal(sampleValue(samples, "sluice_endpoint_excluded", { ...endpoint, reason: "ejected" }), 0);
      assert.equal(sampleValue(samples, "envoy_cluster_membership_healthy", cluster), 1);
      assert.equal(sampleValue(samples, "istio_tcp_connections_opened_total", { reporter: "source" }), 1);
      assert.equal(sampleValue(samples, "istio_tcp_connections_closed_total", { reporter: "source" }), 0);
      assert.equal(sampleValue(samples, "envoy_http_downstream_cx_active"), 1);
    });

    test("the proxy's own failures count with the HTTP code of their status, and an overflow as a circuit-breaker overflow", async (t) => {
      const [pod] = await scriptedPods(t, 1);
      const yaml = [
        serviceEntryYaml(HOST, [pod!.port]),
        destinationRuleYaml(HOST, "    connectionPool:\n      http: {http2MaxRequests: 1}\n"),
        listenerYaml("  admin: 127.0.0.1:0\n", transport),
      ].join("---\n");
      const p = await proxyInFront(t, [pod!], { config: () => [yaml], start: withAdmin(), client: { "grpc.default_authority": HOST } });
      const { client } = p;
      const slow = callUnary(client, payload, md({ "x-echo-delay-ms": "300" }));
      const refused = await callUnary(client, payload);
      assert.equal(refused.code, 14);
      assert.match(refused.details, /http2MaxRequests/);
      assert.equal((await slow).code, 0);
      const { samples } = parsePrometheus((await p.get("/metrics")).body);
      assert.equal(sampleValue(samples, "istio_requests_total", { grpc_response_status: "14", response_code: "503", response_flags: "UO" }), 1);
      assert.equal(sampleValue(samples, "istio_requests_total", { grpc_response_status: "0", response_code: "200", response_flags: "-" }), 1);
      assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_pending_overflow", { cluster_name: CLUSTER }), 1);
      assert.equal(sampleValue(samples, "sluice_cluster_rq_overflow_total", { cluster_name: CLUSTER, limit: "http2MaxRequests" }), 1);
    });
  });
}

test("the proxy's own early replies (a :path that names no method) count in istio_requests_total, destination unknown", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const p = await proxyInFront(t, [pod!], {
    config: () => [serviceEntryYaml(HOST, [pod!.port]) + "---\n" + listenerYaml("  admin: 127.0.0.1:0\n")],
    start: withAdmin(),
    client: { "grpc.default_authority": HOST },
  });
  const { client } = p;
  const identity = (b: Buffer): Buffer => b;
  const badPath = (): Promise<number> =>
    new Promise((resolve) => {
      client.makeUnaryRequest("/no-method", identity, identity, payload, (err) => resolve(err?.code ?? 0));
    });
  assert.equal(await badPath(), 12);
  assert.equal(await badPath(), 12);
  const { samples } = parsePrometheus((await p.get("/metrics")).body);
  const unknown = { reporter: "source", destination_service: "unknown", grpc_response_status: "12", response_code: "404", response_flags: "NR" };
  assert.equal(sampleValue(samples, "istio_requests_total", unknown), 2);
  assert.equal(pod!.stats.rpcs, 0);
});

test("a call the client cancels counts as an attempt of its endpoint (upstream_rq_total), not as an error", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const p = await proxyInFront(t, [pod!], {
    config: () => [serviceEntryYaml(HOST, [pod!.port]) + "---\n" + listenerYaml("  admin: 127.0.0.1:0\n")],
    start: withAdmin(),
    client: { "grpc.default_authority": HOST },
  });
  const { client } = p;
  const identity = (b: Buffer): Buffer => b;
  const begun = once(pod!.stats.events, "begin");
  const call = client.makeUnaryRequest("/sluice.demo.Echo/Unary", identity, identity, payload, md({ "x-echo-delay-ms": "60000" }), () => {});
  await begun;
  const ended = once(pod!.stats.events, "end");
  call.cancel();
  await ended; // the backend saw the cancel the proxy passed on after counting it
  const { samples } = parsePrometheus((await p.get("/metrics")).body);
  const endpoint = { cluster_name: `${HOST}|50051|`, endpoint: `127.0.0.1:${pod!.port}` };
  assert.equal(sampleValue(samples, "envoy_cluster_upstream_rq_total", endpoint), 1);
  assert.equal(sampleValue(samples, "istio_requests_total", { destination_service: HOST, grpc_response_status: "1", response_flags: "DC" }), 1);
  const view = JSON.parse((await p.get("/clusters")).body) as { clusters: { endpoints: { requests: number; errors: number }[] }[] };
  assert.deepEqual([view.clusters[0]!.endpoints[0]!.requests, view.clusters[0]!.endpoints[0]!.errors], [1, 0]);
});

test("/clusters: endpoints with state, connections and requests; an endpoint ejected by outlier detection shows as such", async (t) => {
  const p = await twoPodsOneStrike(t, HOST);
  const { client, pods } = p;
  assert.equal((await callUnary(client, payload)).code, 0);
  // UNKNOWN is a 500 (a 5xx) that the default retry policy leaves alone: one strike, ejected.
  assert.equal((await callUnary(client, payload, md({ "x-echo-status": "2" }))).code, 2);
  const r = await p.get("/clusters");
  assert.equal(r.status, 200);
  assert.equal(r.type, "application/json");
  const { clusters } = JSON.parse(r.body) as { clusters: ClusterView[] };
  assert.equal(clusters.length, 1);
  const c = clusters[0]!;
  assert.deepEqual([c.cluster, c.host, c.port, c.subset, c.loadBalancer, c.panic], [CLUSTER, HOST, 50051, null, "ROUND_ROBIN", false]);
  assert.deepEqual(c.outlierDetection, {
    ejectionsTotal: 1,
    ejectionsActive: 1,
    ejectionsOverflow: 0,
    byReason: { "consecutive-5xx": 1, "consecutive-gateway": 0, "consecutive-local-origin": 0, latency: 0 },
  });
  assert.equal(c.endpoints.length, 2);
  const ejected = c.endpoints.filter((e) => e.ejected);
  assert.equal(ejected.length, 1);
  const [bad] = ejected;
  const good = c.endpoints.find((e) => !e.ejected)!;
  assert.deepEqual(
    {
      healthy: bad!.healthy,
      unhealthy: bad!.unhealthy,
      reason: bad!.ejection?.reason,
      timesEjected: bad!.timesEjected,
      requests: bad!.requests,
      errors: bad!.errors,
      state: bad!.state,
      connections: bad!.connections,
      activeRequests: bad!.activeRequests,
    },
    {
      healthy: false,
      unhealthy: false,
      reason: "consecutive-5xx",
      timesEjected: 1,
      requests: 1,
      errors: 1,
      state: "READY",
      connections: 1,
      activeRequests: 0,
    },
  );
  assert.deepEqual(
    { healthy: good.healthy, ejection: good.ejection, requests: good.requests, errors: good.errors },
    { healthy: true, ejection: null, requests: 1, errors: 0 },
  );
  assert.deepEqual(bad!.labels, { pod: bad!.port === pods[0]!.port ? "pod-1" : "pod-2", version: bad!.port === pods[0]!.port ? "v1" : "v2" });

  const { samples } = parsePrometheus((await p.get("/metrics")).body);
  assert.equal(sampleValue(samples, "sluice_endpoint_excluded", { endpoint: bad!.endpoint, reason: "ejected" }), 1);
  assert.equal(sampleValue(samples, "sluice_endpoint_excluded", { endpoint: good.endpoint, reason: "ejected" }), 0);
  assert.equal(sampleValue(samples, "envoy_cluster_outlier_detection_ejections_active", { cluster_name: CLUSTER }), 1);
  assert.equal(sampleValue(samples, "envoy_cluster_outlier_detection_ejections_enforced_total", { cluster_name: CLUSTER }), 1);
  assert.equal(sampleValue(samples, "envoy_cluster_membership_healthy", { cluster_name: CLUSTER }), 1);
});

test("/config_dump is the running config with its defaults, Maps and Sets made JSON; /paths lists the paths; unknown paths 404", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const p = await proxyInFront(t, [pod!], {
    config: () => [serviceEntryYaml(HOST, [pod!.port]) + "---\n" + listenerYaml("  admin: 127.0.0.1:0\n")],
    start: withAdmin(),
    client: { "grpc.default_authority": HOST },
  });
  const r = await p.get("/config_dump");
  assert.equal(r.status, 200);
  const dump = JSON.parse(r.body) as {
    listener: Record<string, unknown>;
    clusters: Record<string, { policy: { connectionPool: { http: { http2MaxRequests: unknown } } } }>;
    virtualHosts: { routes: { retry: { retryOn: string[] } }[] }[];
  };
  assert.deepEqual(dump.listener["imbalanceWarning"], { threshold: 1.5, windowMs: 30_000 });
  assert.equal(dump.listener["accessLog"], false);
  assert.deepEqual(Object.keys(dump.clusters), [CLUSTER]);
  // Unlimited is Infinity in the config; JSON has no such number.
  assert.equal(dump.clusters[CLUSTER]!.policy.connectionPool.http.http2MaxRequests, "Infinity");
  // A Set in the config (retryOn) comes out as an array.
  assert.deepEqual([...dump.virtualHosts[0]!.routes[0]!.retry.retryOn].sort(), [
    "cancelled",
    "connect-failure",
    "refused-stream",
    "retriable-status-codes",
    "unavailable",
  ]);
  const index = await p.get("/paths");
  assert.equal(index.status, 200);
  assert.ok("/metrics" in (JSON.parse(index.body) as { paths: Record<string, string> }).paths);
  assert.equal((await p.get("/nope")).status, 404);
  assert.equal((await p.get("/healthz")).status, 200);
});

test("/ready: 503 while the clusters warm, 200 once listening, 503 from the start of the drain", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const { Observability } = await import("../../src/admin/observability.js");
  const { Proxy } = await import("../../src/proxy/proxy.js");
  const { parseConfig } = await import("../support/cluster.js");
  const observability = new Observability();
  const proxy = new Proxy(parseConfig(serviceEntryYaml(HOST, [pod!.port]) + "---\n" + listenerYaml("  admin: 127.0.0.1:0\n")), {
    onRpcEnd: observability.onRpcEnd,
    attemptObserver: observability.attemptObserver,
  });
  observability.attach(proxy);
  defer(t, async () => {
    await proxy.stop(1000);
    await observability.stop();
  });
  const admin = await observability.startAdmin();
  const get = async (path: string): Promise<[number, string]> => {
    const r = await fetch(`http://127.0.0.1:${admin!.port}${path}`);
    return [r.status, await r.text()];
  };
  assert.deepEqual(await get("/ready"), [503, "STARTING\n"]);
  const addr = await proxy.start();
  assert.deepEqual(await get("/ready"), [200, "LIVE\n"]);
  const client = clientFor(t, `127.0.0.1:${addr.port}`, { "grpc.default_authority": HOST });
  // An RPC in flight keeps the drain going while /ready is asked.
  const inFlight = callUnary(client, payload, md({ "x-echo-delay-ms": "300" }));
  await new Promise<void>((resolve) => {
    const check = (): void => (proxy.cluster(CLUSTER)!.stats.active > 0 ? resolve() : void setImmediate(check));
    check();
  });
  const stopped = proxy.stop(5000);
  assert.deepEqual(await get("/ready"), [503, "DRAINING\n"]);
  assert.deepEqual(await get("/healthz"), [200, "OK\n"]);
  assert.equal((await inFlight).code, 0);
  await stopped;
  client.close();
});
