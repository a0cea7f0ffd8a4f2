// The ADS client against sluice's own ADS server on loopback (and scripted ones where a case
// needs requests recorded): the first consistent snapshot (listener -> route -> cluster ->
// endpoints), ACKs as the server records them, pushes, resources that leave, a NACK of an
// undecodable response, a bad resource NACKed on its own while the good ones of the response
// are taken (gRFC A46), reconnecting with backoff on an injected clock, does-not-exist
// deadlines per name that run only while the control plane is reached and are not postponed
// by other names' churn (gRFC A27), a new stream that never sends an LDS/CDS request naming
// nothing (a server reads that as a wildcard), and close().
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { AdsClient, type AdsClientOptions } from "../../src/xds-client/ads-client.js";
import { AdsServer, type AckEvent } from "../../src/xds-server/ads-server.js";
import { buildResources } from "../../src/xds-server/to-xds.js";
import * as grpc from "@grpc/grpc-js";
import { adsServiceDefinition, packAny, TYPE_URL, type AnyMessage } from "../../src/xds-proto/protos.js";
import type { XdsResources } from "../../src/xds-client/decoded-resources.js";
import { ManualClock } from "../../src/core/clock.js";
import { deadPort, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { serveAds } from "../support/ads.js";
import { waitFor } from "../support/events.js";
import { defer, type Owner } from "../support/teardown.js";

const CLUSTER = "outbound|50051||echo";
const OTHER = "outbound|50051||other";
const echo = (ports: number[]): string => serviceEntryYaml("echo", ports);
const both = (ports: number[]): string => `${echo(ports)}---\n${serviceEntryYaml("other", [7100])}`;

/** Resolves when the server has recorded an ACK of `version` for every type in `types`. */
function acksOf(ads: AdsServer, types: readonly string[], version: string): Promise<AckEvent[]> {
  const seen = new Map<string, AckEvent>();
  return new Promise((resolve) => {
    const on = (a: AckEvent): void => {
      if (types.includes(a.typeUrl) && a.version === version) seen.set(a.typeUrl, a);
      if (seen.size === types.length) {
        ads.off("ack", on);
        resolve([...seen.values()]);
      }
    };
    ads.on("ack", on);
  });
}

function endpointPorts(r: XdsResources, cluster = CLUSTER): number[] {
  const cla = r.endpoints.get(cluster) as
    { endpoints?: { lb_endpoints?: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[] } | undefined;
  return (cla?.endpoints ?? []).flatMap((l) => (l.lb_endpoints ?? []).map((e) => e.endpoint.address.socket_address.port_value)).sort();
}

/** An AdsClient, closed when `owner` ends. */
function adsClient(owner: Owner, options: AdsClientOptions): AdsClient {
  const client = new AdsClient(options);
  defer(owner, () => client.close());
  return client;
}

/** sluice's ADS server on `yaml` and an AdsClient of it following listener echo (unless `opts` say otherwise); both closed when `owner` ends. */
async function servedClient(owner: Owner, yaml: string, opts: Partial<AdsClientOptions>): Promise<{ ads: AdsServer; client: AdsClient }> {
  const { ads, address } = await serveAds(owner, parseConfig(yaml));
  return { ads, client: adsClient(owner, { server: address, nodeId: "ads-client-test", listeners: ["echo"], ...opts }) };
}

/**
 * A scripted ADS server (StreamAggregatedResources as `stream` plays it; delta ends at once) on
 * loopback; its port. Shut down when `owner` ends.
 */
async function scriptedAds<Req>(owner: Owner, stream: (call: grpc.ServerDuplexStream<Req, unknown>) => void): Promise<number> {
  const server = new grpc.Server();
  server.addService(adsServiceDefinition(), {
    StreamAggregatedResources: stream,
    DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
  });
  defer(owner, () => server.forceShutdown());
  return new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
}

/** A listener whose HttpConnectionManager names RDS route configuration `route`. */
function listenerNaming(name: string, route: string): AnyMessage {
  const hcm = packAny(TYPE_URL.httpConnectionManager, { rds: { config_source: { ads: {} }, route_config_name: route } });
  return packAny(TYPE_URL.listener, { name, api_listener: { api_listener: hcm } });
}

const ALL_TYPES = [TYPE_URL.listener, TYPE_URL.route, TYPE_URL.cluster, TYPE_URL.endpoint];

test("a named listener is followed to its route, cluster and endpoints; one consistent snapshot; every response ACKed", async (t) => {
  const { ads, client } = await servedClient(t, both([7001, 7002]), {});
  const updates: XdsResources[] = [];
  client.on("update", (r) => updates.push(r));
  const acked = acksOf(ads, ALL_TYPES, "1");
  const connected = waitFor(client, "connection");
  client.start();
  assert.deepEqual(await connected, ["connected"]);
  const [snap] = await waitFor<[XdsResources]>(client, "update");
  assert.deepEqual([...snap.listeners.keys()], ["echo"]);
  assert.deepEqual([...snap.routes.keys()], [CLUSTER]);
  assert.deepEqual([...snap.clusters.keys()], [CLUSTER], "only the referenced cluster, not other's");
  assert.deepEqual(endpointPorts(snap), [7001, 7002]);
  assert.equal(client.current(), snap);
  const acks = await acked;
  assert.ok(acks.every((a) => a.nodeId === "ads-client-test"));
  assert.equal(updates.length, 1, "no partial snapshot was emitted on the way");
  const state = ads.streamStates()[0];
  assert.ok(state?.t === "open");
  assert.deepEqual(state.types.get(TYPE_URL.endpoint)?.names, new Set([CLUSTER]));
  assert.deepEqual(state.types.get(TYPE_URL.listener)?.names, new Set(["echo"]));
});

test("a pushed endpoint change arrives as a new snapshot and is ACKed with the new version", async (t) => {
  const { ads, client } = await servedClient(t, echo([7001, 7002]), {});
  client.start();
  await waitFor(client, "update");
  const pushed = waitFor<[XdsResources]>(client, "update");
  const acked = acksOf(ads, [TYPE_URL.endpoint], "2");
  ads.update(parseConfig(echo([7001, 7002, 7003])));
  const [snap] = await pushed;
  assert.deepEqual(endpointPorts(snap), [7001, 7002, 7003]);
  await acked;
});

test('"all": wildcard LDS and CDS; a service that leaves takes its listener, route, cluster and endpoints with it and is unsubscribed', async (t) => {
  const { ads, client } = await servedClient(t, both([7001]), { listeners: "all" });
  client.start();
  const [first] = await waitFor<[XdsResources]>(client, "update");
  assert.deepEqual([...first.listeners.keys()].sort(), ["echo", "echo:50051", "other", "other:50051"]);
  assert.deepEqual([...first.clusters.keys()].sort(), [CLUSTER, OTHER]);
  assert.deepEqual([...first.endpoints.keys()].sort(), [CLUSTER, OTHER]);
  assert.deepEqual([...first.routes.keys()].sort(), [CLUSTER, OTHER]);

  const edsAcked = acksOf(ads, [TYPE_URL.endpoint], "2");
  const next = waitFor<[XdsResources]>(client, "update", (r) => !r.clusters.has(OTHER) && !r.listeners.has("other"));
  ads.update(parseConfig(echo([7001])));
  const [snap] = await next;
  assert.deepEqual([...snap.listeners.keys()].sort(), ["echo", "echo:50051"]);
  assert.deepEqual([...snap.routes.keys()], [CLUSTER]);
  assert.deepEqual([...snap.endpoints.keys()], [CLUSTER]);
  assert.deepEqual(endpointPorts(snap), [7001]);
  // The EDS push of version 2 is ACKed; after it the stream's EDS and RDS names no longer hold other's.
  await edsAcked;
  const unsubscribed = (): boolean => {
    const s = ads.streamStates()[0];
    return (
      s?.t === "open" && !(s.types.get(TYPE_URL.endpoint)?.names as Set<string>).has(OTHER) && !(s.types.get(TYPE_URL.route)?.names as Set<string>).has(OTHER)
    );
  };
  if (!unsubscribed()) await waitFor(ads, "sent", () => unsubscribed());
  assert.ok(unsubscribed());
});

test("an undecodable response is NACKed with the reason; the last good resources stay; the next good one is ACKed", async (t) => {
  const { ads, client } = await servedClient(t, echo([7001]), {});
  client.start();
  const [good] = await waitFor<[XdsResources]>(client, "update");
  const broken = new Map(buildResources(parseConfig(echo([7001]))).byType);
  broken.set(TYPE_URL.listener, new Map([["echo", { type_url: TYPE_URL.listener, value: Buffer.from([0x0a, 0x04, 0x65, 0x63, 0x68, 0x6f, 0x0f]) }]]));
  const serverNack = waitFor(ads, "nack");
  const clientNack = waitFor<[{ typeUrl: string; version: string; message: string }]>(client, "nack");
  let updated = false;
  client.on("update", () => (updated = true));
  ads.setResources({ byType: broken });
  const [nack] = await clientNack;
  assert.equal(nack.typeUrl, TYPE_URL.listener);
  assert.equal(nack.version, "2");
  assert.match(nack.message, /cannot be decoded/);
  const [recorded] = (await serverNack) as [{ typeUrl: string; message: string }];
  assert.equal(recorded.typeUrl, TYPE_URL.listener);
  assert.equal(recorded.message, nack.message);
  assert.equal(client.current(), good, "the last good snapshot stays");
  assert.equal(updated, false);

  const acked = acksOf(ads, [TYPE_URL.listener], "3");
  const recovered = waitFor<[XdsResources]>(client, "update");
  ads.update(parseConfig(echo([7001, 7002])));
  await acked;
  assert.deepEqual(endpointPorts((await recovered)[0]), [7001, 7002]);
});

test("a lost control plane: disconnected, the snapshot kept, a reconnect after the backoff on the injected clock, resubscribed; close() stops it all", async (t) => {
  const clock = new ManualClock();
  const { ads, port, address } = await serveAds(t, parseConfig(echo([7001])));
  const client = adsClient(t, { server: address, nodeId: "n", listeners: ["echo"], clock, random: () => 0.5 });
  const events: string[] = [];
  client.on("connection", (c) => events.push(c));
  client.start();
  const [first] = await waitFor<[XdsResources]>(client, "update");

  const disconnected = waitFor(client, "connection", (c) => c === "disconnected");
  await ads.stop();
  await disconnected;
  assert.equal(client.current(), first, "the last snapshot is kept while the control plane is away");
  assert.equal(clock.pendingTimers(), 1, "the reconnect waits for its backoff timer");

  // The control plane comes back on the same port with another endpoint.
  const { ads: ads2 } = await serveAds(t, parseConfig(echo([7001, 7005])), port);
  const acked = acksOf(ads2, ALL_TYPES, "1");
  const reconnected = waitFor(client, "connection", (c) => c === "connected");
  const updated = waitFor<[XdsResources]>(client, "update");
  clock.advance(1000);
  await reconnected;
  assert.deepEqual(endpointPorts((await updated)[0]), [7001, 7005]);
  await acked;
  assert.deepEqual(events, ["connected", "disconnected", "connected"]);

  client.close();
  assert.deepEqual(events, ["connected", "disconnected", "connected", "disconnected"]);
  assert.equal(clock.pendingTimers(), 0, "nothing left to reconnect or time out");
});

test("a listener absent from the answer to the first LDS request does not exist: no waiting for it", async (t) => {
  const clock = new ManualClock();
  const { client } = await servedClient(t, echo([7001]), { listeners: ["echo", "nope"], clock });
  client.start();
  const [snap] = await waitFor<[XdsResources]>(client, "update");
  assert.deepEqual([...snap.listeners.keys()], ["echo"]);
});

test("a resource named later that the server never sends is taken not to exist after the timeout (gRFC A27)", async (t) => {
  const clock = new ManualClock();
  const { ads, client } = await servedClient(t, echo([7001]), { clock });
  client.start();
  await waitFor(client, "update");
  let updated = false;
  client.on("update", () => (updated = true));
  // Listener echo now names a route configuration the server does not have.
  const resources = new Map(buildResources(parseConfig(echo([7001]))).byType);
  const hcm = packAny(TYPE_URL.httpConnectionManager, { rds: { config_source: { ads: {} }, route_config_name: "missing-route" } });
  resources.set(TYPE_URL.listener, new Map([["echo", packAny(TYPE_URL.listener, { name: "echo", api_listener: { api_listener: hcm } })]]));
  const rdsAnswered = waitFor(ads, "sent", (e: { typeUrl: string; names: readonly string[] }) => e.typeUrl === TYPE_URL.route && e.names.length === 0);
  ads.setResources({ byType: resources });
  await rdsAnswered;
  await waitFor(ads, "ack", (a: AckEvent) => a.typeUrl === TYPE_URL.route);
  assert.equal(updated, false, "route missing-route is still awaited");
  const update = waitFor<[XdsResources]>(client, "update");
  clock.advance(15_000);
  const [snap] = await update;
  assert.deepEqual([...snap.routes.keys()], [], "the old route was unsubscribed and dropped; the new one does not exist");
  assert.deepEqual([...snap.clusters.keys()], []);
});

test("a new stream resubscribes every type with the version it last accepted and no nonce", async (t) => {
  // A scripted ADS server that records each request and answers LDS once per stream.
  const requests: { stream: number; type_url: string; version_info: string; response_nonce: string; resource_names: string[] }[] = [];
  const listener =
    buildResources(parseConfig(echo([7001])))
      .byType.get(TYPE_URL.listener)
      ?.get("echo") ?? assert.fail("no listener");
  let streams = 0;
  const calls: grpc.ServerDuplexStream<unknown, unknown>[] = [];
  const recorded = new EventEmitter();
  const port = await scriptedAds(t, (call: grpc.ServerDuplexStream<Record<string, unknown>, unknown>) => {
    const stream = ++streams;
    calls.push(call);
    call.on("data", (r: { type_url: string; version_info: string; response_nonce: string; resource_names: string[] }) => {
      requests.push({ stream, type_url: r.type_url, version_info: r.version_info, response_nonce: r.response_nonce, resource_names: r.resource_names });
      recorded.emit("request", stream, r.type_url);
      if (r.type_url === TYPE_URL.listener && r.response_nonce === "")
        call.write({ version_info: `v${stream}`, nonce: `n${stream}`, type_url: TYPE_URL.listener, resources: [listener] });
    });
    call.on("error", () => undefined);
  });
  const clock = new ManualClock();
  const client = adsClient(t, { server: `127.0.0.1:${port}`, nodeId: "n", listeners: ["echo"], clock, random: () => 0.5 });
  const rdsAsked = (stream: number): Promise<unknown> => waitFor(recorded, "request", (st: number, type: string) => st === stream && type === TYPE_URL.route);
  const connected = waitFor(client, "connection", (c) => c === "connected");
  const firstRds = rdsAsked(1);
  client.start();
  await connected;
  // The LDS answer is ACKed and the route it names is asked for.
  await firstRds;
  const ended = waitFor(client, "streamEnded");
  calls[0]?.end();
  await ended;
  const again = waitFor(client, "connection", (c) => c === "connected");
  const secondRds = rdsAsked(2);
  clock.advance(0);
  await again;
  await secondRds;
  const second = requests.filter((r) => r.stream === 2);
  assert.deepEqual(second[0], { stream: 2, type_url: TYPE_URL.listener, version_info: "v1", response_nonce: "", resource_names: ["echo"] });
  assert.deepEqual(
    second.find((r) => r.type_url === TYPE_URL.route),
    { stream: 2, type_url: TYPE_URL.route, version_info: "", response_nonce: "", resource_names: [CLUSTER] },
  );
});

test("a wildcard response with one bad listener: the bad one is NACKed by name, the good ones make a snapshot (gRFC A46)", async (t) => {
  const ads = new AdsServer(parseConfig(echo([7001])));
  const resources = new Map(buildResources(parseConfig(echo([7001]))).byType);
  const listeners = new Map(resources.get(TYPE_URL.listener));
  // An API listener whose api_listener is not an HttpConnectionManager: decodable, named, invalid.
  listeners.set("broken", packAny(TYPE_URL.listener, { name: "broken", api_listener: { api_listener: packAny(TYPE_URL.cluster, { name: "x" }) } }));
  resources.set(TYPE_URL.listener, listeners);
  ads.setResources({ byType: resources });
  const { address } = await serveAds(t, ads);
  const client = adsClient(t, { server: address, nodeId: "a46", listeners: "all" });
  const nack = waitFor<[{ typeUrl: string; message: string }]>(client, "nack");
  const update = waitFor<[XdsResources]>(client, "update");
  client.start();
  const [n] = await nack;
  assert.equal(n.typeUrl, TYPE_URL.listener);
  assert.match(n.message, /listener "broken": api_listener is a .*Cluster, not an HttpConnectionManager/);
  const [snap] = await update;
  assert.deepEqual([...snap.listeners.keys()].sort(), ["echo", "echo:50051"], "every good listener, not the bad one");
  assert.equal(snap.endpoints.size, 1, "the good listener was followed to its endpoints");
});

test("a control plane that cannot be reached starts no does-not-exist deadline: no empty snapshot, however long it is away", async (t) => {
  const clock = new ManualClock();
  const client = adsClient(t, { server: `127.0.0.1:${await deadPort()}`, nodeId: "unreached", listeners: ["echo"], clock, random: () => 0.5 });
  let updates = 0;
  client.on("update", () => updates++);
  const ended = waitFor(client, "streamEnded");
  client.start();
  // Past the 15 s resource timeout before the stream has even failed.
  clock.advance(20_000);
  await ended;
  clock.advance(20_000);
  assert.equal(updates, 0);
  assert.equal(client.current(), null);
});

test("a name's deadline is not postponed by other names coming and going (gRFC A27)", async (t) => {
  const clock = new ManualClock();
  const base = buildResources(parseConfig(echo([7001]))).byType;
  const route = (name: string): AnyMessage => packAny(TYPE_URL.route, { name, virtual_hosts: [] });
  const version = (n: number): Map<string, ReadonlyMap<string, AnyMessage>> => {
    const byType = new Map(base);
    // "echo" names a route the server never has; "other" names one it has, renamed every push.
    byType.set(
      TYPE_URL.listener,
      new Map([
        ["echo", listenerNaming("echo", "missing-route")],
        ["other", listenerNaming("other", `r-${n}`)],
      ]),
    );
    byType.set(TYPE_URL.route, new Map([[`r-${n}`, route(`r-${n}`)]]));
    return byType;
  };
  const ads = new AdsServer(parseConfig(echo([7001])));
  ads.setResources({ byType: version(1) });
  const { address } = await serveAds(t, ads);
  const client = adsClient(t, { server: address, nodeId: "churn", listeners: ["echo", "other"], clock, random: () => 0.5 });
  let updated: XdsResources | null = null;
  client.on("update", (s: XdsResources) => (updated = s));
  const routeAcked = (v: string): Promise<unknown> => waitFor(ads, "ack", (a: AckEvent) => a.typeUrl === TYPE_URL.route && a.version === v);
  // Route versions: 1 was the config's own, 2 is version(1), 3 will be version(2).
  const first = routeAcked("2");
  client.start();
  await first;
  clock.advance(10_000);
  // A push renames other's route: RDS now asks for missing-route and r-2.
  // Two RDS answers of version 3 come: the push (none of the names then asked for), then r-2
  // once the new listener asks for it; the second ACK means r-2 has arrived.
  let acks = 0;
  const bothAcked = waitFor(ads, "ack", (a: AckEvent) => a.typeUrl === TYPE_URL.route && a.version === "3" && ++acks === 2);
  ads.setResources({ byType: version(2) });
  await bothAcked;
  assert.equal(updated, null, "missing-route is still awaited");
  // 16 s after missing-route was first awaited: past its own deadline, whatever came since.
  clock.advance(6000);
  assert.notEqual(updated, null, "missing-route was taken not to exist at its deadline");
  assert.deepEqual([...updated!.routes.keys()], ["r-2"]);
});

test("a new stream sends no CDS request naming nothing (a server would read it as a wildcard)", async (t) => {
  type Req = { stream: number; type_url: string; response_nonce: string; resource_names: string[] };
  const requests: Req[] = [];
  const recorded = new EventEmitter();
  const calls: grpc.ServerDuplexStream<unknown, unknown>[] = [];
  // Route "r" first sends its one route to cluster c1, then (a push) none: CDS is left naming nothing.
  const withCluster = packAny(TYPE_URL.route, {
    name: "r",
    virtual_hosts: [{ name: "vh", domains: ["*"], routes: [{ match: { prefix: "" }, route: { cluster: "c1" } }] }],
  });
  const withoutCluster = packAny(TYPE_URL.route, { name: "r", virtual_hosts: [{ name: "vh", domains: ["*"], routes: [] }] });
  let streams = 0;
  const port = await scriptedAds(t, (call: grpc.ServerDuplexStream<Req, unknown>) => {
    const stream = ++streams;
    calls.push(call);
    call.on("data", (r: Req) => {
      requests.push({ stream, type_url: r.type_url, response_nonce: r.response_nonce, resource_names: [...r.resource_names] });
      recorded.emit("request", stream, r);
      if (r.type_url === TYPE_URL.listener && r.response_nonce === "") {
        call.write({ version_info: `l${stream}`, nonce: `ln${stream}`, type_url: TYPE_URL.listener, resources: [listenerNaming("echo", "r")] });
      }
      if (stream === 1 && r.type_url === TYPE_URL.route && r.response_nonce === "") {
        call.write({ version_info: "r1", nonce: "rn1", type_url: TYPE_URL.route, resources: [withCluster] });
      }
      if (stream === 1 && r.type_url === TYPE_URL.cluster && r.response_nonce === "" && r.resource_names.includes("c1")) {
        call.write({ version_info: "r2", nonce: "rn2", type_url: TYPE_URL.route, resources: [withoutCluster] });
      }
    });
    call.on("error", () => undefined);
  });
  const clock = new ManualClock();
  const client = adsClient(t, { server: `127.0.0.1:${port}`, nodeId: "n", listeners: ["echo"], clock, random: () => 0.5 });
  // On stream 1 the client unsubscribes c1: a CDS request naming nothing, which is an unsubscribe there.
  const emptied = waitFor(recorded, "request", (st: number, r: Req) => st === 1 && r.type_url === TYPE_URL.cluster && r.resource_names.length === 0);
  client.start();
  await emptied;
  const ended = waitFor(client, "streamEnded");
  calls[0]?.end();
  await ended;
  // Stream 2: the client's LDS ACK comes after everything it sent on opening the stream.
  const ldsAcked = waitFor(recorded, "request", (st: number, r: Req) => st === 2 && r.type_url === TYPE_URL.listener && r.response_nonce === "ln2");
  clock.advance(1000);
  await ldsAcked;
  const second = requests.filter((r) => r.stream === 2);
  assert.deepEqual(
    second.filter((r) => r.type_url === TYPE_URL.cluster && r.resource_names.length === 0),
    [],
    JSON.stringify(second),
  );
  assert.ok(
    second.some((r) => r.type_url === TYPE_URL.route && r.resource_names.includes("r")),
    "the route is asked for again",
  );
});
