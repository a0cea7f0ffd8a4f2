// The proof with the official proxyless client: a @grpc/grpc-js-xds channel to xds:///echo,
// bootstrapped at sluice's ADS server, balances over the ServiceEntry's endpoints, follows
// an endpoint change pushed over the same ADS stream, and keeps its last good config when
// it rejects a resource (NACK). Runs in its own process: grpc-js-xds's bootstrap is global.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";
import { AdsServer } from "../../src/xds-server/ads-server.js";
import { Status } from "../../src/core/status.js";
import { buildResources, xdsClusterName } from "../../src/xds-server/to-xds.js";
import { packAny, TYPE_URL } from "../../src/xds-proto/protos.js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { destinationRuleYaml, md, parseConfig, serviceEntryYaml, startPods, type Pod } from "../support/cluster.js";

const CLUSTER = xdsClusterName({ host: "echo", port: 50051, subset: null });

/** Unary calls; how many landed on each pod (x-pod response header). */
async function spread(client: grpc.Client, calls: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < calls; i++) {
    const r = await callUnary(client, Buffer.from("hi"));
    assert.equal(r.code, Status.OK, r.details);
    const pod = String(r.headers?.get("x-pod")[0] ?? "?");
    counts.set(pod, (counts.get(pod) ?? 0) + 1);
  }
  return counts;
}

/** Calls until one lands on `pod` (the client applied a pushed update); fails after `limit` calls. */
async function callUntil(client: grpc.Client, pod: string, limit: number): Promise<void> {
  for (let i = 0; i < limit; i++) {
    const r = await callUnary(client, Buffer.from("hi"));
    if (r.code === Status.OK && r.headers?.get("x-pod")[0] === pod) return;
  }
  assert.fail(`no call reached ${pod} in ${limit} calls`);
}

const pods: Pod[] = await startPods(4);
const yamlFor = (ps: readonly Pod[]): string =>
  serviceEntryYaml(
    "echo",
    ps.map((p) => p.port),
  );
// The default policy (no DestinationRule) is LEAST_REQUEST: grpc-js-xds takes the RoundRobin fallback.
const ads = new AdsServer(parseConfig(yamlFor(pods.slice(0, 3))));
const adsPort = await ads.start("127.0.0.1", 0);
process.env["GRPC_XDS_BOOTSTRAP_CONFIG"] = JSON.stringify({
  xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
  node: { id: "sluice-test", locality: {} },
});
xds.register();
const client = echoClient("xds:///echo");

after(async () => {
  client.close();
  await ads.stop();
  for (const p of pods) await p.stop();
});

test("an xds:///echo channel spreads calls over the ServiceEntry's endpoints", async () => {
  // round_robin picks among READY subchannels: once each pod answered, all three are.
  for (const pod of ["pod-1", "pod-2", "pod-3"]) await callUntil(client, pod, 50);
  const counts = await spread(client, 30);
  assert.deepEqual([...counts.keys()].sort(), ["pod-1", "pod-2", "pod-3"]);
  for (const n of counts.values()) assert.equal(n, 10, `round robin: ${JSON.stringify([...counts])}`);
  const [stream] = ads.streamStates();
  assert.equal(ads.streamStates().length, 1);
  assert.equal(stream?.nodeId, "sluice-test");
  assert.ok(stream?.t === "open");
  for (const t of [TYPE_URL.listener, TYPE_URL.route, TYPE_URL.cluster, TYPE_URL.endpoint]) {
    assert.equal(stream.types.get(t)?.accepted, "1", `${t} ACKed`);
  }
  assert.deepEqual([...(stream.types.get(TYPE_URL.listener)?.names ?? [])], ["echo"]);
});

test("an endpoint change is pushed and followed over the same ADS stream", async () => {
  const before = ads.streamStates().map((s) => s.id);
  const acked = once(ads, "ack", { signal: AbortSignal.timeout(10_000) });
  ads.update(parseConfig(yamlFor([pods[0], pods[1], pods[3]].filter((p) => p !== undefined))));
  const [ack] = (await acked) as [{ typeUrl: string; version: string }];
  assert.deepEqual(ack, { ...ack, typeUrl: TYPE_URL.endpoint, version: "2" });
  await callUntil(client, "pod-4", 50);
  for (const pod of ["pod-1", "pod-2"]) await callUntil(client, pod, 50);
  const counts = await spread(client, 30);
  assert.deepEqual([...counts.keys()].sort(), ["pod-1", "pod-2", "pod-4"]);
  for (const n of counts.values()) assert.equal(n, 10);
  assert.deepEqual(
    ads.streamStates().map((s) => s.id),
    before,
    "no new ADS stream",
  );
});

test("a resource the client rejects is NACKed; the last good config stays in force", async () => {
  const good = buildResources(parseConfig(yamlFor([pods[0], pods[1], pods[3]].filter((p) => p !== undefined))));
  const clusters = new Map(good.byType.get(TYPE_URL.cluster));
  // gRPC clients have no MAGLEV: grpc-js-xds rejects the cluster.
  clusters.set(
    CLUSTER,
    packAny(TYPE_URL.cluster, { name: CLUSTER, type: "EDS", lb_policy: "MAGLEV", eds_cluster_config: { eds_config: { ads: {} }, service_name: CLUSTER } }),
  );
  const nacked = once(ads, "nack", { signal: AbortSignal.timeout(10_000) });
  ads.setResources({ byType: new Map(good.byType).set(TYPE_URL.cluster, clusters) });
  const [nack] = (await nacked) as [{ typeUrl: string; version: string; message: string }];
  assert.equal(nack.typeUrl, TYPE_URL.cluster);
  assert.match(nack.message, /MAGLEV/);
  const sub = ads.streamStates()[0];
  assert.ok(sub?.t === "open");
  assert.equal(sub.types.get(TYPE_URL.cluster)?.accepted, "1");
  assert.equal(sub.types.get(TYPE_URL.cluster)?.rejected?.version, "2");
  const counts = await spread(client, 30);
  assert.deepEqual([...counts.keys()].sort(), ["pod-1", "pod-2", "pod-4"]);

  const acked = once(ads, "ack", { signal: AbortSignal.timeout(10_000) });
  ads.setResources(good);
  const [ack] = (await acked) as [{ typeUrl: string; version: string }];
  assert.deepEqual([ack.typeUrl, ack.version], [TYPE_URL.cluster, "3"]);
  assert.equal(ads.streamStates().length, 1);
});

test("a consistentHash DestinationRule becomes RING_HASH: one user's calls stay on one pod, users spread", async () => {
  const three = [pods[0], pods[1], pods[3]].filter((p) => p !== undefined);
  const acks = new Set<string>();
  const bothAcked = new Promise<void>((resolve) => {
    const onAck = (e: { typeUrl: string }): void => {
      acks.add(e.typeUrl);
      if (acks.has(TYPE_URL.cluster) && acks.has(TYPE_URL.route)) {
        ads.off("ack", onAck);
        resolve();
      }
    };
    ads.on("ack", onAck);
  });
  ads.update(parseConfig(`${yamlFor(three)}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { consistentHash: { httpHeaderName: x-user } }")}`));
  await bothAcked;
  const podOf = async (user: string): Promise<string> => {
    const r = await callUnary(client, Buffer.from("hi"), md({ "x-user": user }));
    assert.equal(r.code, Status.OK, r.details);
    return String(r.headers?.get("x-pod")[0]);
  };
  // The channel swaps to ring_hash right after the ACK; wait until alice sticks (round robin never would).
  let streak = 0;
  let last = "";
  for (let i = 0; i < 100 && streak < 10; i++) {
    const pod = await podOf("alice");
    streak = pod === last ? streak + 1 : 1;
    last = pod;
  }
  assert.equal(streak, 10, "alice's calls never stuck to one pod");
  for (let i = 0; i < 20; i++) assert.equal(await podOf("alice"), last);
  const users = new Set<string>();
  for (let u = 0; u < 20; u++) users.add(await podOf(`user-${u}`));
  assert.ok(users.size >= 2, `20 users all on ${[...users].join()}`);
});
