// The admin server's Envoy paths, on a real proxy in front of real pods: /stats/prometheus
// (Istio's scrape path) answers as /metrics does, and /stats lists the same counters and
// gauges as Envoy's GET /stats does (`name: value`, Envoy's names, sorted), with Envoy's
// filter, usedonly and format parameters; /paths lists both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { callUnary } from "../../src/demo/echo-client.js";
import { listenerYaml, md, serviceEntryYaml } from "../support/cluster.js";
import { parsePrometheus, sampleValue, twoPodsOneStrike, withAdmin } from "../support/admin.js";
import { proxyInFront } from "../support/proxy-with-pods.js";
import { scriptedPods } from "../support/scripted-pods.js";

const HOST = "grpc-service";
const CLUSTER = "grpc-service|50051|";
const payload = Buffer.from("hi");

/** `name: value` lines, strictly: every line one stat; a map of them. */
function parseStats(body: string): Map<string, number> {
  const stats = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (line === "") continue;
    const m = /^(\S+): (-?[0-9.e+-]+|NaN)$/.exec(line);
    assert.ok(m !== null, `not a "name: value" line: ${JSON.stringify(line)}`);
    assert.ok(!stats.has(m[1]!), `${m[1]} twice`);
    stats.set(m[1]!, Number(m[2]));
  }
  return stats;
}

async function twoPodsOneEjected(t: Parameters<typeof scriptedPods>[0]) {
  const p = await twoPodsOneStrike(t, HOST);
  for (let i = 0; i < 4; i++) assert.equal((await callUnary(p.client, payload)).code, 0);
  // UNKNOWN is a 5xx the default retry policy leaves alone: one strike, its endpoint ejected.
  assert.equal((await callUnary(p.client, payload, md({ "x-echo-status": "2" }))).code, 2);
  return p;
}

test("/stats/prometheus is /metrics at Istio's scrape path: same content type, same series", async (t) => {
  const p = await twoPodsOneEjected(t);
  const metrics = await p.get("/metrics");
  const istio = await p.get("/stats/prometheus");
  assert.equal(istio.status, 200);
  assert.equal(istio.type, metrics.type);
  assert.match(istio.type ?? "", /^text\/plain; version=0\.0\.4/);
  const a = parsePrometheus(metrics.body);
  const b = parsePrometheus(istio.body);
  assert.deepEqual([...b.types], [...a.types]);
  const series = (s: typeof a.samples): string[] => s.map((x) => `${x.name}${JSON.stringify(x.labels)}`).sort();
  assert.deepEqual(series(b.samples), series(a.samples));
  assert.equal(sampleValue(b.samples, "istio_requests_total", { grpc_response_status: "0" }), 4);
  assert.equal((await p.get("/stats?format=prometheus")).body.includes("# TYPE istio_requests_total counter"), true);
});

test("/stats: Envoy's `name: value` lines, sorted, by Envoy's names, with the values of /metrics", async (t) => {
  const p = await twoPodsOneEjected(t);
  const r = await p.get("/stats");
  assert.equal(r.status, 200);
  assert.match(r.type ?? "", /^text\/plain/);
  const lines = r.body.trimEnd().split("\n");
  assert.deepEqual(lines, [...lines].sort(), "sorted by name, as Envoy lists them");
  const stats = parseStats(r.body);
  const { samples } = parsePrometheus((await p.get("/metrics")).body);
  const perEndpoint = samples.filter((s) => s.name === "envoy_cluster_upstream_rq_total").map((s) => s.value);
  assert.equal(perEndpoint.length, 2);
  // Envoy's cluster stats count every host: the per-endpoint series summed.
  assert.equal(stats.get(`cluster.${CLUSTER}.upstream_rq_total`), perEndpoint[0]! + perEndpoint[1]!);
  assert.equal(stats.get(`cluster.${CLUSTER}.upstream_rq_total`), 5);
  assert.equal(stats.get(`cluster.${CLUSTER}.membership_total`), 2);
  assert.equal(stats.get(`cluster.${CLUSTER}.membership_healthy`), 1);
  // Envoy's outlier detection stats sit one level down.
  assert.equal(stats.get(`cluster.${CLUSTER}.outlier_detection.ejections_active`), 1);
  assert.equal(stats.get(`cluster.${CLUSTER}.outlier_detection.ejections_enforced_total`), 1);
  assert.equal(stats.get(`cluster.${CLUSTER}.upstream_rq_retry`), 0);
  assert.equal(stats.get("http.sluice.downstream_cx_active"), 1);
  // Istio's metrics as Envoy names Istio's tagged stats: tag=.=value;.; then the name.
  const requests = [...stats].filter(([name]) => name.endsWith(";.;istio_requests_total"));
  assert.equal(requests.length, 2, "one per status (OK, UNKNOWN)");
  const ok = requests.find(([name]) => name.includes(";.;grpc_response_status=.=0;.;"));
  assert.ok(ok !== undefined);
  assert.match(ok[0], /^reporter=\.=source;\.;/);
  assert.equal(ok[1], 4);
  // Histograms stay on /metrics.
  assert.ok(![...stats.keys()].some((n) => n.includes("istio_request_duration_milliseconds")));
});

test("/stats?filter= keeps the names a regular expression matches; ?usedonly drops zeros; ?format=json; bad parameters are 400", async (t) => {
  const p = await twoPodsOneEjected(t);
  const filtered = parseStats((await p.get("/stats?filter=outlier_detection")).body);
  assert.deepEqual(
    [...filtered.keys()],
    ["ejections_active", "ejections_enforced_total", "ejections_overflow"].map((s) => `cluster.${CLUSTER}.outlier_detection.${s}`),
  );
  const used = parseStats((await p.get("/stats?usedonly")).body);
  assert.ok(used.size > 0);
  assert.ok([...used.values()].every((v) => v !== 0));
  assert.equal(used.has(`cluster.${CLUSTER}.outlier_detection.ejections_overflow`), false);
  const json = await p.get("/stats?format=json&filter=upstream_rq_total$");
  assert.equal(json.type, "application/json");
  assert.deepEqual(JSON.parse(json.body), { stats: [{ name: `cluster.${CLUSTER}.upstream_rq_total`, value: 5 }] });
  const badFilter = await p.get("/stats?filter=(");
  assert.equal(badFilter.status, 400);
  assert.match(badFilter.body, /filter is not a regular expression/);
  assert.equal((await p.get("/stats?format=xml")).status, 400);
});

test("/paths lists /stats and /stats/prometheus", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const p = await proxyInFront(t, [pod!], {
    config: () => [serviceEntryYaml(HOST, [pod!.port]) + "---\n" + listenerYaml("  admin: 127.0.0.1:0\n")],
    start: withAdmin(),
    client: { "grpc.default_authority": HOST },
  });
  const { paths } = JSON.parse((await p.get("/paths")).body) as { paths: Record<string, string> };
  assert.match(paths["/stats/prometheus"] ?? "", /same as \/metrics/);
  assert.match(paths["/stats"] ?? "", /name: value/);
  // A cluster with no traffic yet still has its stats (0), as Envoy lists them.
  const stats = parseStats((await p.get("/stats")).body);
  assert.equal(stats.get(`cluster.${CLUSTER}.upstream_rq_total`), 0);
});
