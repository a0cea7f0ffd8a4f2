// The ADS client's harder cases (commit 7d7655b): a bad resource is NACKed on its own while
// the good ones of the response are taken (gRFC A46), even under a wildcard; does-not-exist
// deadlines run per name, only while the control plane is reached, and other names' churn
// does not postpone them (gRFC A27); a new stream never sends an LDS/CDS request naming
// nothing (a server reads that as a wildcard); the shared watch re-delivers after a
// reconnect; a destroyed sluice:/// resolver says nothing more.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import type { experimental } from "@grpc/grpc-js";
import { ManualClock } from "../../src/core/clock.js";
import { AdsClient } from "../../src/xds/ads-client.js";
import { AdsServer, type AckEvent } from "../../src/xds/ads-server.js";
import { adsServiceDefinition, packAny, TYPE_URL, type AnyMessage } from "../../src/xds/protos.js";
import { buildResources } from "../../src/xds/resources.js";
import type { XdsResources } from "../../src/xds/xds-resources.js";
import { watchListener } from "../../src/client/control-plane-watch.js";
import { SluiceResolver } from "../../src/client/sluice-resolver.js";
import { deadPort, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { waitFor } from "../support/events.js";

const echo = (ports: number[]): string => serviceEntryYaml("echo", ports);

/** A listener whose HttpConnectionManager names RDS route configuration `route`. */
function listenerNaming(name: string, route: string): AnyMessage {
  const hcm = packAny(TYPE_URL.httpConnectionManager, { rds: { config_source: { ads: {} }, route_config_name: route } });
  return packAny(TYPE_URL.listener, { name, api_listener: { api_listener: hcm } });
}

test("a wildcard response with one bad listener: the bad one is NACKed by name, the good ones make a snapshot (gRFC A46)", async () => {
  const ads = new AdsServer(parseConfig(echo([7001])));
  const resources = new Map(buildResources(parseConfig(echo([7001]))).byType);
  const listeners = new Map(resources.get(TYPE_URL.listener));
  // An API listener whose api_listener is not an HttpConnectionManager: decodable, named, invalid.
  listeners.set("broken", packAny(TYPE_URL.listener, { name: "broken", api_listener: { api_listener: packAny(TYPE_URL.cluster, { name: "x" }) } }));
  resources.set(TYPE_URL.listener, listeners);
  ads.setResources({ byType: resources });
  const port = await ads.start("127.0.0.1", 0);
  const client = new AdsClient({ server: `127.0.0.1:${port}`, nodeId: "a46", listeners: "all" });
  try {
    const nack = waitFor<[{ typeUrl: string; message: string }]>(client, "nack");
    const update = waitFor<[XdsResources]>(client, "update");
    client.start();
    const [n] = await nack;
    assert.equal(n.typeUrl, TYPE_URL.listener);
    assert.match(n.message, /listener "broken": api_listener is a .*Cluster, not an HttpConnectionManager/);
    const [snap] = await update;
    assert.deepEqual([...snap.listeners.keys()].sort(), ["echo", "echo:50051"], "every good listener, not the bad one");
    assert.equal(snap.endpoints.size, 1, "the good listener was followed to its endpoints");
  } finally {
    client.close();
    await ads.stop();
  }
});

test("a control plane that cannot be reached starts no does-not-exist deadline: no empty snapshot, however long it is away", async () => {
  const clock = new ManualClock();
  const client = new AdsClient({ server: `127.0.0.1:${await deadPort()}`, nodeId: "unreached", listeners: ["echo"], clock, random: () => 0.5 });
  let updates = 0;
  client.on("update", () => updates++);
  try {
    const ended = waitFor(client, "streamEnded");
    client.start();
    // Past the 15 s resource timeout before the stream has even failed.
    clock.advance(20_000);
    await ended;
    clock.advance(20_000);
    assert.equal(updates, 0);
    assert.equal(client.current(), null);
  } finally {
    client.close();
  }
});

test("a name's deadline is not postponed by other names coming and going (gRFC A27)", async () => {
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
  const port = await ads.start("127.0.0.1", 0);
  const client = new AdsClient({ server: `127.0.0.1:${port}`, nodeId: "churn", listeners: ["echo", "other"], clock, random: () => 0.5 });
  let updated: XdsResources | null = null;
  client.on("update", (s: XdsResources) => (updated = s));
  const routeAcked = (v: string): Promise<unknown> => waitFor(ads, "ack", (a: AckEvent) => a.typeUrl === TYPE_URL.route && a.version === v);
  try {
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
  } finally {
    client.close();
    await ads.stop();
  }
});

test("a new stream sends no CDS request naming nothing (a server would read it as a wildcard)", async () => {
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
  const server = new grpc.Server();
  server.addService(adsServiceDefinition(), {
    StreamAggregatedResources: (call: grpc.ServerDuplexStream<Req, unknown>) => {
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
    },
    DeltaAggregatedResources: (call: grpc.ServerDuplexStream<unknown, unknown>) => call.end(),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const clock = new ManualClock();
  const client = new AdsClient({ server: `127.0.0.1:${port}`, nodeId: "n", listeners: ["echo"], clock, random: () => 0.5 });
  try {
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
  } finally {
    client.close();
    server.forceShutdown();
  }
});

test("the shared watch: after the control plane comes back unchanged, its subscribers hear the snapshot again (no stale failure)", async () => {
  const config = parseConfig(echo([7011]));
  const ads = new AdsServer(config);
  const port = await ads.start("127.0.0.1", 0);
  const events: string[] = [];
  const seen = new EventEmitter();
  const release = watchListener(`127.0.0.1:${port}`, "echo", {
    update: () => {
      events.push("update");
      seen.emit("event", "update");
    },
    streamEnded: () => {
      events.push("streamEnded");
      seen.emit("event", "streamEnded");
    },
    reconnected: () => {
      events.push("reconnected");
      seen.emit("event", "reconnected");
    },
  });
  let ads2: AdsServer | null = null;
  try {
    if (!events.includes("update")) await waitFor(seen, "event", (e: string) => e === "update");
    const ended = waitFor(seen, "event", (e: string) => e === "streamEnded");
    await ads.stop();
    await ended;
    // The same config again: nothing changed, so the ADS client has no new update of its own.
    ads2 = new AdsServer(config);
    const back = waitFor(seen, "event", (e: string) => e === "reconnected");
    await ads2.start("127.0.0.1", port);
    await back;
    const afterFailure = events.slice(events.lastIndexOf("streamEnded") + 1);
    assert.deepEqual(afterFailure.slice(0, 2), ["update", "reconnected"], events.join(","));
  } finally {
    release();
    await ads2?.stop();
  }
});

test("a destroyed sluice:/// resolver never calls its listener again, even if asked to resolve", async () => {
  const ads = new AdsServer(parseConfig(echo([7021])));
  const port = await ads.start("127.0.0.1", 0);
  const uri: experimental.GrpcUri = { scheme: "sluice", authority: `127.0.0.1:${port}`, path: "echo" };
  let destroyedCalls = 0;
  const destroyed = new SluiceResolver(uri, () => (destroyedCalls++, true), {});
  const live = new EventEmitter();
  const other = new SluiceResolver(uri, (r) => (live.emit("resolved", r), true), {});
  try {
    destroyed.updateResolution();
    destroyed.destroy();
    destroyed.updateResolution();
    const resolved = waitFor<[experimental.StatusOr<unknown>]>(live, "resolved");
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
  } finally {
    other.destroy();
    await ads.stop();
  }
});

test("the shared watch: a subscriber that leaves during another's delivery hears nothing more", async () => {
  const ads = new AdsServer(parseConfig(echo([7031])));
  const port = await ads.start("127.0.0.1", 0);
  const server = `127.0.0.1:${port}`;
  const heard: string[] = [];
  const done = new EventEmitter();
  let releaseB: () => void = () => undefined;
  // A channel closing (B) from inside another's update (A), as grpc-js may do.
  const releaseA = watchListener(server, "echo", {
    update: () => {
      heard.push("A");
      releaseB();
      setImmediate(() => done.emit("delivered"));
    },
    streamEnded: () => undefined,
  });
  releaseB = watchListener(server, "echo", { update: () => heard.push("B"), streamEnded: () => undefined });
  try {
    await waitFor(done, "delivered");
    assert.deepEqual(heard, ["A"]);
  } finally {
    releaseA();
    await ads.stop();
  }
});
