// The ADS protocol as the server plays it, driven by a raw DiscoveryRequest stream: answers
// to subscriptions, ACK/NACK bookkeeping, stale nonces, pushes only to subscribers, and
// malformed requests as gRPC statuses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import { parseDiscoveryRequest, type AckEvent, type AdsServer } from "../../src/xds-server/ads-server.js";
import { adsClientConstructor, TYPE_URL, unpackAny } from "../../src/xds-proto/protos.js";
import { RawStream, serveAds, stubClient } from "../support/ads.js";
import { Status } from "../../src/core/status.js";
import { parseConfig, serviceEntryYaml } from "../support/cluster.js";
import type { Owner } from "../support/teardown.js";

const CLUSTER = "outbound|50051||echo";
const yaml = (ports: number[]): string => serviceEntryYaml("echo", ports);

/** sluice's ADS server on two endpoints and a stub client of it, both closed when the test ends. */
async function adsAndClient(owner: Owner): Promise<{ ads: AdsServer; client: grpc.Client }> {
  const { ads, address } = await serveAds(owner, parseConfig(yaml([7001, 7002])));
  return { ads, client: stubClient(owner, adsClientConstructor(), address) };
}

test("a subscription is answered with the named resources, version and nonce; the ACK is recorded", async (t) => {
  const { ads, client } = await adsAndClient(t);
  const s = new RawStream(client);
  s.send({ type_url: TYPE_URL.listener, resource_names: ["echo", "missing"] });
  const r = await s.next();
  assert.equal(r.type_url, TYPE_URL.listener);
  assert.equal(r.version_info, "1");
  assert.deepEqual(
    r.resources.map((a) => unpackAny(a)["name"]),
    ["echo"],
  );
  const acked = once(ads, "ack");
  s.send({ type_url: TYPE_URL.listener, resource_names: ["echo", "missing"], response_nonce: r.nonce, version_info: r.version_info });
  assert.deepEqual((await acked)[0], { stream: 1, nodeId: "raw", typeUrl: TYPE_URL.listener, version: "1" });
  const state = ads.streamStates()[0];
  assert.ok(state?.t === "open");
  assert.deepEqual(state.types.get(TYPE_URL.listener), {
    names: new Set(["echo", "missing"]),
    sent: { version: "1", nonce: r.nonce },
    accepted: "1",
    rejected: null,
  });
  s.call.end();
  assert.equal((await s.ended).code, Status.OK);
});

test("a NACK is recorded, nothing is resent, and the next config change is pushed with a new version", async (t) => {
  const { ads, client } = await adsAndClient(t);
  const s = new RawStream(client);
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER] });
  const first = await s.next();
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER], response_nonce: first.nonce, version_info: first.version_info });
  await once(ads, "ack");
  s.send({ type_url: TYPE_URL.cluster, resource_names: [CLUSTER] });
  const cds = await s.next();
  const nacked = once(ads, "nack");
  s.send({
    type_url: TYPE_URL.cluster,
    resource_names: [CLUSTER],
    response_nonce: cds.nonce,
    version_info: "",
    error_detail: { code: Status.INVALID_ARGUMENT, message: "no thanks" },
  });
  assert.deepEqual((await nacked)[0], { stream: 1, nodeId: "raw", typeUrl: TYPE_URL.cluster, version: "1", message: "no thanks" });
  const state = ads.streamStates()[0];
  assert.ok(state?.t === "open");
  assert.deepEqual(state.types.get(TYPE_URL.cluster)?.rejected, { version: "1", message: "no thanks" });
  assert.equal(state.types.get(TYPE_URL.cluster)?.accepted, null);

  // Endpoints change; clusters do not: only EDS is pushed, as version 2.
  ads.update(parseConfig(yaml([7001, 7003])));
  const pushed = await s.next();
  assert.equal(pushed.type_url, TYPE_URL.endpoint);
  assert.equal(pushed.version_info, "2");
  const ports = (
    unpackAny(pushed.resources[0] ?? assert.fail("no resource"))["endpoints"] as {
      lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[];
    }[]
  )[0]?.lb_endpoints.map((e) => e.endpoint.address.socket_address.port_value);
  assert.deepEqual(ports, [7001, 7003]);
  assert.ok(s.idle, "no CDS resend after the NACK");
});

test("a request answering an older response (stale nonce) is ignored", async (t) => {
  const { ads, client } = await adsAndClient(t);
  const s = new RawStream(client);
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER] });
  const first = await s.next();
  ads.update(parseConfig(yaml([7001])));
  const second = await s.next();
  // An ACK of the first response arriving after the push is stale: not recorded, not answered.
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [], response_nonce: first.nonce, version_info: "1" });
  const acked = once(ads, "ack");
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER], response_nonce: second.nonce, version_info: "2" });
  assert.equal(((await acked) as [AckEvent])[0].version, "2");
  const state = ads.streamStates()[0];
  assert.ok(state?.t === "open");
  assert.deepEqual(state.types.get(TYPE_URL.endpoint)?.names, new Set([CLUSTER]), "the stale request did not unsubscribe");
  assert.ok(s.idle);
});

test("changing the subscribed names is answered; an empty first LDS request is a wildcard", async (t) => {
  const { client } = await adsAndClient(t);
  const s = new RawStream(client);
  s.send({ type_url: TYPE_URL.listener });
  const all = await s.next();
  assert.deepEqual(all.resources.map((a) => unpackAny(a)["name"]).sort(), ["echo", "echo:50051"]);
  s.send({ type_url: TYPE_URL.route, resource_names: [] });
  assert.deepEqual((await s.next()).resources, [], "RDS: empty names subscribe to nothing");
  s.send({ type_url: TYPE_URL.route, resource_names: [CLUSTER], response_nonce: "" });
  const rds = await s.next();
  assert.deepEqual(
    rds.resources.map((a) => unpackAny(a)["name"]),
    [CLUSTER],
  );
});

test("a wildcard subscription stays one when its ACK names nothing (no empty state-of-the-world answer)", async (t) => {
  const { client } = await adsAndClient(t);
  const s = new RawStream(client);
  s.send({ type_url: TYPE_URL.listener });
  const first = await s.next();
  assert.equal(first.resources.length, 2);
  // Envoy's ACK of a wildcard LDS answer: no names, the version and nonce it accepted.
  s.send({ type_url: TYPE_URL.listener, version_info: first.version_info, response_nonce: first.nonce });
  // The next thing on the stream is the answer to this CDS request, not an empty LDS answer.
  s.send({ type_url: TYPE_URL.cluster });
  const next = await s.next();
  assert.equal(next.type_url, TYPE_URL.cluster);
  assert.ok(next.resources.length > 0);
});

test("pushes go only to streams subscribed to the changed type", async (t) => {
  const { ads, client } = await adsAndClient(t);
  const eds = new RawStream(client);
  const lds = new RawStream(client);
  eds.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER] });
  lds.send({ type_url: TYPE_URL.listener, resource_names: ["echo"] });
  await eds.next();
  await lds.next();
  ads.update(parseConfig(yaml([7009])));
  assert.equal((await eds.next()).version_info, "2");
  // A fresh LDS subscription on the LDS stream proves its queue is in order: nothing came before it.
  lds.send({ type_url: TYPE_URL.listener, resource_names: ["echo:50051"], response_nonce: "" });
  const r = await lds.next();
  assert.equal(r.version_info, "1");
  assert.deepEqual(
    r.resources.map((a) => unpackAny(a)["name"]),
    ["echo:50051"],
  );
});

test("malformed requests and delta ADS end the stream with a gRPC status", async (t) => {
  const { client } = await adsAndClient(t);
  const bad = new RawStream(client);
  bad.send({ type_url: "" });
  const status = await bad.ended;
  assert.equal(status.code, Status.INVALID_ARGUMENT);
  assert.match(status.details, /type_url is required/);
  const delta = new RawStream(client, "DeltaAggregatedResources");
  assert.equal((await delta.ended).code, Status.UNIMPLEMENTED);
});

test("parseDiscoveryRequest reads what proto-loader decodes and rejects what is not a request", () => {
  assert.deepEqual(
    parseDiscoveryRequest({ type_url: "t", resource_names: ["a"], node: { id: "n" }, response_nonce: "3", version_info: "2", error_detail: null }),
    {
      nodeId: "n",
      versionInfo: "2",
      resourceNames: ["a"],
      typeUrl: "t",
      responseNonce: "3",
      errorDetail: null,
    },
  );
  assert.equal(parseDiscoveryRequest(null), "not a message");
  assert.equal(parseDiscoveryRequest({ type_url: "t", resource_names: [1] }), "resource_names must be strings");
});
