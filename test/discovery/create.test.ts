import { test } from "node:test";
import assert from "node:assert/strict";
import type { Cluster } from "../../src/config/types.js";
import { ManualClock } from "../../src/core/clock.js";
import { createEndpointSource } from "../../src/discovery/create.js";
import { DnsEndpointSource } from "../../src/discovery/dns.js";
import { StaticEndpointSource } from "../../src/discovery/static.js";
import type { ResolvedEndpoint } from "../../src/discovery/types.js";

// Only the fields an endpoint source reads; the rest of a Cluster is not its business.
function cluster(resolution: Cluster["resolution"], address: string): Cluster {
  return {
    name: "svc|80|",
    resolution,
    endpoints: [{ address, port: 80, weight: 1, labels: {} }],
  } as Partial<Cluster> as Cluster;
}

test("createEndpointSource picks the source for the cluster's resolution", async () => {
  const clock = new ManualClock();
  assert.ok(createEndpointSource(cluster("STATIC", "10.0.0.1"), clock) instanceof StaticEndpointSource);
  const dns = createEndpointSource(cluster("DNS", "svc.example"), clock, {
    resolver: (name) => Promise.resolve(name === "svc.example" ? ["10.0.0.7"] : []),
    dnsRefreshMs: 100,
  });
  assert.ok(dns instanceof DnsEndpointSource);
  const set = await new Promise<readonly ResolvedEndpoint[]>((resolve) => dns.start(resolve));
  assert.equal(set[0]?.address, "10.0.0.7");
  assert.equal(clock.pendingTimers(), 1);
  clock.advance(99);
  dns.stop();
});
