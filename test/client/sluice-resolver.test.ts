// sluice:///HOST with real grpc-js channels, real echo pods and sluice's ADS server in
// process: balancing over a ServiceEntry's endpoints, a pushed endpoint reaching the channel
// without a failed call, a pushed consistentHash DestinationRule making one header value
// stick to one pod, the control plane's loss keeping the addresses, the status a channel
// gets when no control plane is configured, and a destroyed resolver staying silent and
// leaving the shared ADS watch.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import { register } from "../../src/client/register.js";
import { watchListener } from "../../src/client/control-plane-watch.js";
import { setControlPlane, CONTROL_PLANE_ENV, SluiceResolver } from "../../src/client/sluice-resolver.js";
import { AdsServer, type AckEvent } from "../../src/xds-server/ads-server.js";
import { TYPE_URL } from "../../src/xds-proto/protos.js";
import { callUnary } from "../../src/demo/echo-client.js";
import { SluiceError } from "../../src/core/errors.js";
import { Status } from "../../src/core/status.js";
import { deadPort, destinationRuleYaml, parseConfig, serviceEntryYaml, startPods, type Pod } from "../support/cluster.js";
import { serveAds } from "../support/ads.js";
import { clientFor } from "../support/calls.js";
import { waitFor } from "../support/events.js";
import { defer, type Owner } from "../support/teardown.js";
import { callPod, count } from "./support.js";

register();

const pods: Pod[] = await startPods(4);
const yamlFor = (ps: readonly Pod[], dr = ""): string =>
  `${serviceEntryYaml(
    "echo",
    ps.map((p) => p.port),
  )}${dr === "" ? "" : `---\n${destinationRuleYaml("echo", dr)}`}`;
const three = pods.slice(0, 3);

after(async () => {
  for (const p of pods) await p.stop();
});

/** Sets SLUICE_CONTROL_PLANE (`undefined`: unsets it) until `owner` ends, then puts back what was there. */
function controlPlaneEnv(owner: Owner, value: string | undefined): void {
  const saved = process.env[CONTROL_PLANE_ENV];
  const set = (v: string | undefined): void => {
    if (v === undefined) delete process.env[CONTROL_PLANE_ENV];
    else process.env[CONTROL_PLANE_ENV] = v;
  };
  set(value);
  defer(owner, () => set(saved));
}

async function spread(client: grpc.Client, calls: number, headers: Record<string, string> = {}): Promise<string[]> {
  const served: string[] = [];
  for (let i = 0; i < calls; i++) served.push(await callPod(client, headers));
  return served;
}

/**
 * Runs `push` (an ads.update) and resolves once every client stream has ACKed what the push
 * sent it: the channel's resolver has had the new snapshot by then (the ADS client takes a
 * response, ACKs it and hands the snapshot on in one go).
 */
async function pushAcked(ads: AdsServer, push: () => void): Promise<void> {
  const pending = new Set<string>();
  const onSent = (e: { stream: number; typeUrl: string; version: string }): void => void pending.add(`${e.stream} ${e.typeUrl} ${e.version}`);
  ads.on("sent", onSent);
  push();
  ads.off("sent", onSent);
  assert.ok(pending.size > 0, "the push sent nothing");
  await new Promise<void>((resolve) => {
    const onAck = (a: AckEvent): void => {
      pending.delete(`${a.stream} ${a.typeUrl} ${a.version}`);
      if (pending.size > 0) return;
      ads.off("ack", onAck);
      resolve();
    };
    ads.on("ack", onAck);
  });
}

/** The first ACK of an endpoint assignment the server gets (a client has its endpoints). */
function edsAcked(ads: AdsServer): Promise<void> {
  return new Promise((resolve) => {
    const onAck = (a: AckEvent): void => {
      if (a.typeUrl !== TYPE_URL.endpoint) return;
      ads.off("ack", onAck);
      resolve();
    };
    ads.on("ack", onAck);
  });
}

/**
 * Calls until one lands on `pod`, once the channel has the address: the few calls on the way
 * cover the new subchannel's connecting (round robin uses READY ones only); every call must succeed.
 */
async function callUntil(client: grpc.Client, pod: string, limit: number, headers: Record<string, string> = {}): Promise<number> {
  for (let i = 1; i <= limit; i++) if ((await callPod(client, headers)) === pod) return i;
  return assert.fail(`no call reached ${pod} in ${limit} calls`);
}

test("sluice:///echo (control plane from register()) balances over the ServiceEntry's three endpoints", async (t) => {
  const { port } = await serveAds(t, parseConfig(yamlFor(three)));
  register({ controlPlane: `127.0.0.1:${port}` });
  defer(t, () => setControlPlane(null));
  const client = clientFor(t, "sluice:///echo");
  const served = await spread(client, 90);
  for (const pod of ["pod-1", "pod-2", "pod-3"]) assert.ok(count(served, pod) >= 10, `${pod} served ${count(served, pod)} of 90`);
  assert.equal(count(served, "pod-4"), 0);
});

test("an endpoint added to the config reaches the channel: calls get to it and none fails", async (t) => {
  const { ads, port } = await serveAds(t, parseConfig(yamlFor(three, "    loadBalancer: { simple: ROUND_ROBIN }")));
  const client = clientFor(t, `sluice://127.0.0.1:${port}/echo`);
  await spread(client, 6);
  await pushAcked(ads, () => ads.update(parseConfig(yamlFor(pods, "    loadBalancer: { simple: ROUND_ROBIN }"))));
  await callUntil(client, "pod-4", 50);
  // Round robin over four: the next eight calls reach every pod twice.
  const served = await spread(client, 8);
  for (const pod of ["pod-1", "pod-2", "pod-3", "pod-4"]) assert.equal(count(served, pod), 2, served.join(","));
});

test("a consistentHash DestinationRule pushed on the header x-user: one user's calls stick to one pod, users spread", async (t) => {
  const { ads, port } = await serveAds(t, parseConfig(yamlFor(three, "    loadBalancer: { simple: ROUND_ROBIN }")));
  const client = clientFor(t, `sluice://127.0.0.1:${port}/echo`);
  // Round robin first: one user's calls go everywhere.
  assert.equal(new Set(await spread(client, 6, { "x-user": "alice" })).size, 3);
  await pushAcked(ads, () => ads.update(parseConfig(yamlFor(three, "    loadBalancer: { consistentHash: { httpHeaderName: x-user } }"))));
  // The channel has the new policy; its ring's subchannels connect within a few calls: 6 in a row on one pod.
  let run = 0;
  let last = "";
  for (let i = 0; run < 6; i++) {
    if (i === 50) assert.fail("alice's calls never settled on one pod");
    const pod = await callPod(client, { "x-user": "alice" });
    run = pod === last ? run + 1 : 1;
    last = pod;
  }
  assert.deepEqual(new Set(await spread(client, 30, { "x-user": "alice" })), new Set([last]));
  const users = await Promise.all(Array.from({ length: 20 }, (_, i) => callPod(client, { "x-user": `user-${i}` })));
  assert.ok(new Set(users).size >= 2, `20 users all on ${users[0]}`);
  for (let i = 0; i < 20; i++) assert.equal(await callPod(client, { "x-user": `user-${i}` }), users[i], `user-${i} moved`);
});

test("the control plane's loss keeps the channel's addresses; when it is back, its changes arrive again", async (t) => {
  const { ads, port } = await serveAds(t, parseConfig(yamlFor(pods.slice(0, 2), "    loadBalancer: { simple: ROUND_ROBIN }")));
  const client = clientFor(t, `sluice://127.0.0.1:${port}/echo`);
  assert.deepEqual(new Set(await spread(client, 4)), new Set(["pod-1", "pod-2"]));
  await ads.stop();
  // No control plane: calls keep going to the last addresses.
  assert.deepEqual(new Set(await spread(client, 10)), new Set(["pod-1", "pod-2"]));
  const ads2 = new AdsServer(parseConfig(yamlFor(pods.slice(0, 3), "    loadBalancer: { simple: ROUND_ROBIN }")));
  // The client reconnects after its backoff (about 1 s) and takes pod-3; calls meanwhile go on to the old two.
  const back = edsAcked(ads2);
  await serveAds(t, ads2, port);
  await back;
  await callUntil(client, "pod-3", 50);
});

test("without a control plane (no register option, no SLUICE_CONTROL_PLANE, no authority) calls fail UNAVAILABLE saying how to set one", async (t) => {
  setControlPlane(null);
  controlPlaneEnv(t, undefined);
  const client = clientFor(t, "sluice:///echo");
  const r = await callUnary(client, Buffer.from("hi"));
  assert.equal(r.code, Status.UNAVAILABLE);
  assert.match(r.details, /no sluice control plane configured: call register\(\{ controlPlane: "host:port" \}\), set SLUICE_CONTROL_PLANE/);
});

test("SLUICE_CONTROL_PLANE names the control plane; a listener it does not have fails UNAVAILABLE naming it", async (t) => {
  const { port } = await serveAds(t, parseConfig(yamlFor(three)));
  controlPlaneEnv(t, `127.0.0.1:${port}`);
  const good = clientFor(t, "sluice:///echo:50051");
  const missing = clientFor(t, "sluice:///nothing");
  assert.ok((await callPod(good)).startsWith("pod-"));
  const r = await callUnary(missing, Buffer.from("hi"));
  assert.equal(r.code, Status.UNAVAILABLE);
  assert.match(r.details, /has no listener "nothing"/);
});

test("a control plane that cannot be reached fails calls UNAVAILABLE naming it", async (t) => {
  const port = await deadPort();
  const client = clientFor(t, `sluice://127.0.0.1:${port}/echo`);
  const r = await callUnary(client, Buffer.from("hi"));
  assert.equal(r.code, Status.UNAVAILABLE);
  assert.match(r.details, new RegExp(`cannot reach the sluice control plane at 127\\.0\\.0\\.1:${port}`));
});

test("a cluster with TLS (DestinationRule tls SIMPLE) fails calls UNAVAILABLE saying why; none reaches the backend in plaintext", async (t) => {
  const pod = pods[3]!;
  const before = pod.stats.rpcs;
  const { port } = await serveAds(t, parseConfig(yamlFor([pod], "    tls: { mode: SIMPLE }\n")));
  const client = clientFor(t, `sluice://127.0.0.1:${port}/echo`);
  const r = await callUnary(client, Buffer.from("hi"));
  assert.equal(r.code, Status.UNAVAILABLE);
  assert.match(r.details, /cluster "outbound\|50051\|\|echo" asks for TLS \(SIMPLE\) to its endpoints, which a sluice:\/\/\/ channel cannot apply/);
  assert.equal(pod.stats.rpcs, before);
});

test("grpc.service_config_disable_resolution keeps the channel's own service config", async (t) => {
  const { port } = await serveAds(t, parseConfig(yamlFor(three, "    loadBalancer: { simple: ROUND_ROBIN }")));
  const client = clientFor(t, `sluice://127.0.0.1:${port}/echo`, {
    "grpc.service_config_disable_resolution": 1,
    "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ pick_first: {} }] }),
  });
  // pick_first: every call on the first address, although the control plane says round robin.
  assert.deepEqual(new Set(await spread(client, 12)), new Set(["pod-1"]));
});

for (const bad of ["nope", "host:", ":15010", "host:99999"]) {
  test(`register({ controlPlane: ${JSON.stringify(bad)} }) (not host:port) throws INVALID_ARGUMENT`, () => {
    assert.throws(
      () => register({ controlPlane: bad }),
      (e: unknown) => e instanceof SluiceError && e.grpcStatus === Status.INVALID_ARGUMENT && /must be host:port/.test(e.message),
    );
  });
}

test("a destroyed sluice:/// resolver never calls its listener again, even if asked to resolve", async (t) => {
  const { ads, port } = await serveAds(t, parseConfig(serviceEntryYaml("echo", [7021])));
  const uri: grpc.experimental.GrpcUri = { scheme: "sluice", authority: `127.0.0.1:${port}`, path: "echo" };
  let destroyedCalls = 0;
  const destroyed = new SluiceResolver(uri, () => (destroyedCalls++, true), {});
  const live = new EventEmitter();
  const other = new SluiceResolver(uri, (r) => (live.emit("resolved", r), true), {});
  defer(t, () => other.destroy());
  destroyed.updateResolution();
  destroyed.destroy();
  destroyed.updateResolution();
  const resolved = waitFor<[grpc.experimental.StatusOr<unknown>]>(live, "resolved");
  other.updateResolution();
  const [r] = await resolved;
  assert.equal(r.ok, true);
  // Deliveries to the shared watch's subscribers are done; a report would come on the next turn at the latest.
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(destroyedCalls, 0);
  // Nor does it hold a subscription: once the live one leaves, the shared ADS stream closes,
  // so a new watcher opens a new stream (a leaked subscriber would have kept the old one).
  const streams = new Set<number>();
  ads.on("sent", (e: { stream: number }) => streams.add(e.stream));
  other.destroy();
  const before = new Set(streams);
  const probe = new EventEmitter();
  const release = watchListener(`127.0.0.1:${port}`, "echo", { update: () => probe.emit("update"), streamEnded: () => undefined });
  await waitFor(probe, "update");
  release();
  assert.ok(
    [...streams].some((id) => !before.has(id)),
    "the probe's snapshot came on a new stream",
  );
});
