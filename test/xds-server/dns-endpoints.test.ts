// DNS ServiceEntries as the control plane serves them: the names are resolved by the control
// plane and their addresses go out in EDS (proxyless clients take only IPs there); a changed
// answer is pushed; a failed lookup keeps the last good addresses; a reload that drops the
// cluster stops its lookups.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import type { AdsServer } from "../../src/xds-server/ads-server.js";
import { DnsEndpoints } from "../../src/xds-server/dns-endpoints.js";
import { adsClientConstructor, TYPE_URL, unpackAny } from "../../src/xds-proto/protos.js";
import { ManualClock } from "../../src/core/clock.js";
import type { ProxyConfig } from "../../src/config/types.js";
import { RawStream, serveAds, stubClient } from "../support/ads.js";
import { defer } from "../support/teardown.js";
import { parseConfig, serviceEntryYaml } from "../support/cluster.js";

const CLUSTER = "outbound|50051||echo.example";

const dnsYaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo.example]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 50051, name: grpc, protocol: GRPC }]
  endpoints:
    - address: pods.echo.example
    - address: 10.0.0.9
`;

function socketAddresses(cla: Record<string, unknown>): string[] {
  const localities = cla["endpoints"] as { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[];
  return localities.flatMap((l) => l.lb_endpoints.map((e) => `${e.endpoint.address.socket_address.address}:${e.endpoint.address.socket_address.port_value}`));
}

/** A resolver whose answers the test sets; every lookup is counted. */
function scriptedResolver(): { answers: Map<string, string[] | Error>; lookups: string[]; resolve: (name: string) => Promise<string[]> } {
  const answers = new Map<string, string[] | Error>();
  const lookups: string[] = [];
  return {
    answers,
    lookups,
    resolve: (name) => {
      lookups.push(name);
      const a = answers.get(name);
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a ?? []);
    },
  };
}

test("a DNS ServiceEntry is served with the addresses its names resolve to, and a changed answer is pushed", async (t) => {
  const clock = new ManualClock();
  const dns = scriptedResolver();
  dns.answers.set("pods.echo.example", ["10.0.0.2", "10.0.0.1"]);
  const config = parseConfig(dnsYaml);
  const serving: { ads?: AdsServer } = {};
  const changes: ProxyConfig[] = [];
  const endpoints = new DnsEndpoints({ clock, resolver: dns.resolve, refreshMs: 1000, onChange: (c) => (changes.push(c), serving.ads?.update(c)) });
  defer(t, () => endpoints.stop());
  const before = endpoints.set(config);
  assert.deepEqual(before.clusters.get("echo.example|50051|")?.endpoints, [], "nothing is served for a DNS cluster before its first answer");
  await endpoints.firstRound();
  const { ads, address } = await serveAds(t, endpoints.set(config));
  serving.ads = ads;
  const client = stubClient(t, adsClientConstructor(), address);
  const s = new RawStream(client);
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER] });
  const first = await s.next();
  assert.deepEqual(socketAddresses(unpackAny(first.resources[0] ?? { type_url: "", value: Buffer.alloc(0) })), [
    "10.0.0.1:50051",
    "10.0.0.2:50051",
    "10.0.0.9:50051",
  ]);
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER], response_nonce: first.nonce, version_info: first.version_info });
  await once(ads, "ack");

  // The next round answers differently: the new set is pushed.
  dns.answers.set("pods.echo.example", ["10.0.0.3"]);
  clock.advance(1000);
  const pushed = await s.next();
  assert.equal(pushed.version_info, "2");
  assert.deepEqual(socketAddresses(unpackAny(pushed.resources[0] ?? { type_url: "", value: Buffer.alloc(0) })), ["10.0.0.3:50051", "10.0.0.9:50051"]);
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER], response_nonce: pushed.nonce, version_info: pushed.version_info });
  await once(ads, "ack");

  // A failed lookup keeps the last good answer: no change, nothing pushed.
  const changesBefore = changes.length;
  dns.answers.set("pods.echo.example", new Error("SERVFAIL"));
  clock.advance(1000);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(changes.length, changesBefore, "a failed lookup is no change");
  assert.ok(s.idle);
  s.call.end();
  await s.ended;
});

test("a reload keeps the sources of unchanged DNS clusters and stops those that went", async () => {
  const clock = new ManualClock();
  const dns = scriptedResolver();
  dns.answers.set("pods.echo.example", ["10.0.0.1"]);
  const endpoints = new DnsEndpoints({ clock, resolver: dns.resolve, refreshMs: 1000, onChange: () => undefined });
  endpoints.set(parseConfig(dnsYaml));
  await endpoints.firstRound();
  assert.deepEqual(dns.lookups, ["pods.echo.example"]);
  const again = endpoints.set(parseConfig(dnsYaml));
  assert.deepEqual(
    again.clusters.get("echo.example|50051|")?.endpoints.map((e) => e.address),
    ["10.0.0.1", "10.0.0.9"],
    "the unchanged cluster keeps its addresses",
  );
  assert.deepEqual(dns.lookups, ["pods.echo.example"], "no new lookup for an unchanged cluster");
  const staticOnly = endpoints.set(parseConfig(serviceEntryYaml("echo", [7001])));
  assert.equal(staticOnly.clusters.size, 1);
  assert.equal(clock.pendingTimers(), 0, "the dropped DNS cluster's refresh timer is gone");
  endpoints.stop();
});
