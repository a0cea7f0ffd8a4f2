// The access log and the imbalance warning, end to end: real pods, clients and proxy; the
// sampler's time driven by an injected ManualClock, so "for 30 s" takes no time at all.
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/core/clock.js";
import { callUnary } from "../../src/demo/echo-client.js";
import type { ImbalanceReport } from "../../src/admin/imbalance-warning.js";
import type { HistoryJson } from "../../src/admin/sampler.js";
import { destinationRuleYaml, listenerYaml, md, serviceEntryYaml } from "../support/cluster.js";
import { parsePrometheus, sampleValue, withAdmin } from "../support/admin.js";
import { proxyInFront } from "../support/proxy-with-pods.js";
import { scriptedPods } from "../support/scripted-pods.js";

const HOST = "grpc-service";
const CLUSTER = "grpc-service|50051|";
const payload = Buffer.from("hello");

test("access log: one JSON line per RPC with Envoy's fields, only when spec.accessLog is on", async (t) => {
  const [pod] = await scriptedPods(t, 1);
  const lines: Record<string, unknown>[] = [];
  const sink = { write: (s: string): void => void lines.push(JSON.parse(s) as Record<string, unknown>) };
  const yaml = (on: boolean): string => serviceEntryYaml(HOST, [pod!.port]) + "---\n" + listenerYaml(`  admin: 127.0.0.1:0\n  accessLog: ${on}\n`);
  const p = await proxyInFront(t, [pod!], { config: () => [yaml(true)], start: withAdmin({ accessLog: sink }), client: { "grpc.default_authority": HOST } });
  const { client } = p;
  assert.equal((await callUnary(client, payload)).code, 0);
  assert.equal((await callUnary(client, payload, md({ "x-echo-status": "5" }))).code, 5);
  assert.equal(lines.length, 2);
  const [ok, notFound] = lines;
  const endpoint = `127.0.0.1:${pod!.port}`;
  assert.deepEqual(Object.keys(ok!).sort(), [
    "authority",
    "bytes_received",
    "bytes_sent",
    "duration",
    "grpc_status",
    "level",
    "method",
    "path",
    "protocol",
    "response_code",
    "response_flags",
    "retries",
    "start_time",
    "upstream_cluster",
    "upstream_host",
  ]);
  assert.deepEqual(
    { ...ok, start_time: undefined, duration: undefined },
    {
      level: 30,
      start_time: undefined,
      duration: undefined,
      method: "POST",
      authority: HOST,
      path: "/sluice.demo.Echo/Unary",
      protocol: "HTTP/2",
      response_code: 200,
      grpc_status: 0,
      response_flags: "-",
      upstream_cluster: CLUSTER,
      upstream_host: endpoint,
      // gRPC framing: 5 bytes of header, then the message (the echo answers with what it got).
      bytes_received: 5 + payload.length,
      bytes_sent: 5 + payload.length,
      retries: 0,
    },
  );
  assert.ok(typeof ok!["duration"] === "number" && ok!["duration"] >= 0);
  assert.ok(!Number.isNaN(Date.parse(ok!["start_time"] as string)));
  assert.deepEqual([notFound!["grpc_status"], notFound!["upstream_host"], notFound!["bytes_sent"]], [5, endpoint, 0]);
  // The proxy's own reply: a :path naming no method takes no route (Envoy's NR, 404).
  const identity = (b: Buffer): Buffer => b;
  await new Promise((resolve) => client.makeUnaryRequest("/no-method", identity, identity, payload, resolve));
  assert.equal(lines.length, 3);
  assert.deepEqual([lines[2]!["response_flags"], lines[2]!["response_code"], lines[2]!["grpc_status"], lines[2]!["upstream_host"]], ["NR", 404, 12, null]);
  lines.pop();
  // A reload turning it off applies to the next RPC.
  await p.proxy.reconfigure((await import("../support/cluster.js")).parseConfig(yaml(false)));
  assert.equal((await callUnary(client, payload)).code, 0);
  assert.equal(lines.length, 2);
});

/** Three pods; `lb` the DestinationRule's loadBalancer; the sampler on `clock`; warnings collected. */
async function imbalanceSetup(t: TestContext, lb: string, clock: ManualClock, reports: ImbalanceReport[]) {
  const pods = await scriptedPods(t, 3);
  const yaml = [
    serviceEntryYaml(
      HOST,
      pods.map((p) => p.port),
    ),
    destinationRuleYaml(HOST, `    loadBalancer: ${lb}\n`),
    listenerYaml("  admin: 127.0.0.1:0\n  imbalanceWarning: {threshold: 2, window: 5s}\n"),
  ].join("---\n");
  const p = await proxyInFront(t, pods, {
    config: () => [yaml],
    start: withAdmin({ clock, wallNow: () => 1_700_000_000_000 + clock.now(), onImbalance: (r) => reports.push(r) }),
    client: { "grpc.default_authority": HOST },
  });
  const { client } = p;
  const send = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) assert.equal((await callUnary(client, payload, md({ "x-user": "alice" }))).code, 0);
  };
  return { p, pods, send };
}

test("imbalance: one warning when every RPC lands on one endpoint for the window, not one per sample; again only after it was even", async (t) => {
  const clock = new ManualClock();
  const reports: ImbalanceReport[] = [];
  // Every RPC carries the same hash key: all land on one pod.
  const s = await imbalanceSetup(t, "{consistentHash: {httpHeaderName: x-user}}", clock, reports);
  // The sampler started with the admin server, before the clusters warmed: a reading with
  // the endpoints first (all at 0), then the load.
  clock.advance(1000);
  await s.send(30);
  clock.advance(1000); // the first skewed sample: the window starts
  clock.advance(4000);
  assert.equal(reports.length, 0, "not before the window has passed");
  clock.advance(1000);
  assert.equal(reports.length, 1);
  const r = reports[0]!;
  const busy = s.pods.findIndex((pod) => pod.stats.rpcs === 30);
  assert.ok(busy >= 0);
  assert.deepEqual(
    { cluster: r.cluster, host: r.host, imbalance: r.imbalance, threshold: r.threshold, forMs: r.forMs },
    { cluster: CLUSTER, host: HOST, imbalance: 3, threshold: 2, forMs: 5000 },
  );
  // Busiest first: 30 RPCs over the 6 s since the endpoints' first reading.
  assert.deepEqual(
    r.endpoints.map((e) => [e.endpoint, e.rps]),
    [[`127.0.0.1:${s.pods[busy]!.port}`, 5], ...s.pods.filter((_, i) => i !== busy).map((pod) => [`127.0.0.1:${pod.port}`, 0])],
  );
  clock.advance(3000);
  assert.equal(reports.length, 1, "one warning per episode");

  // The gauge and the history say the same.
  const { samples } = parsePrometheus((await s.p.get("/metrics")).body);
  assert.equal(sampleValue(samples, "sluice_destination_imbalance", { cluster_name: CLUSTER, measure: "request_rate" }), 3);
  assert.equal(sampleValue(samples, "sluice_destination_imbalance", { cluster_name: CLUSTER, measure: "active_requests" }), 0);
  const history = JSON.parse((await s.p.get("/history")).body) as HistoryJson;
  const d = history.destinations[0]!;
  assert.equal(d.t.length, 11); // the first reading and one per second for 10 s
  assert.deepEqual(d.t.slice(0, 2), [1_700_000_000_000, 1_700_000_001_000]);
  assert.equal(d.endpoints.length, 3);
  const busyColumn = d.endpoints.find((e) => e.endpoint === `127.0.0.1:${s.pods[busy]!.port}`)!;
  // null: the cluster had no endpoints yet (warming).
  assert.deepEqual(busyColumn.rps.slice(0, 4), [null, 0, 30, 15]);
  assert.deepEqual(busyColumn.connections.slice(-1), [1]);
  const newer = JSON.parse((await s.p.get(`/history?since=${d.t[7]}`)).body) as HistoryJson;
  assert.deepEqual(newer.destinations[0]!.t, d.t.slice(8));
  assert.equal(newer.destinations[0]!.endpoints[0]!.rps.length, 3);

  // The rates fall to nothing: the episode ends. A new skew warns again after its window.
  clock.advance(20_000);
  await s.send(30);
  clock.advance(6000);
  assert.equal(reports.length, 2);
});

test("imbalance: an even spread never warns", async (t) => {
  const clock = new ManualClock();
  const reports: ImbalanceReport[] = [];
  const s = await imbalanceSetup(t, "{simple: ROUND_ROBIN}", clock, reports);
  clock.advance(1000);
  await s.send(30);
  clock.advance(10_000);
  assert.equal(reports.length, 0);
  const { samples } = parsePrometheus((await s.p.get("/metrics")).body);
  assert.equal(sampleValue(samples, "sluice_destination_imbalance", { cluster_name: CLUSTER, measure: "request_rate" }), 1);
  assert.deepEqual(
    s.pods.map((pod) => pod.stats.rpcs),
    [10, 10, 10],
  );
});

test("imbalance: an endpoint out of balancing (ejected) does not count: the two left share evenly, no warning", async (t) => {
  const clock = new ManualClock();
  const reports: ImbalanceReport[] = [];
  const s = await imbalanceSetup(t, "{simple: ROUND_ROBIN}", clock, reports);
  const cluster = s.p.proxy.cluster(CLUSTER)!;
  const ejected = `127.0.0.1:${s.pods[2]!.port}`;
  cluster.setExcluded(ejected, "ejected", true, "test");
  clock.advance(1000);
  await s.send(30);
  clock.advance(10_000);
  assert.deepEqual(
    s.pods.map((pod) => pod.stats.rpcs),
    [15, 15, 0],
  );
  assert.equal(reports.length, 0, "0 rps on an ejected endpoint is what balancing wants");
  const { samples } = parsePrometheus((await s.p.get("/metrics")).body);
  assert.equal(sampleValue(samples, "sluice_destination_imbalance", { cluster_name: CLUSTER, measure: "request_rate" }), 1);
});
