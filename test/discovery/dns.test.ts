import { test } from "node:test";
import assert from "node:assert/strict";
import type { Endpoint } from "../../src/config/types.js";
import { ManualClock } from "../../src/core/clock.js";
import { DEFAULT_DNS_REFRESH_MS, DnsEndpointSource, type DnsResolver } from "../../src/discovery/dns.js";
import type { ResolvedEndpoint } from "../../src/discovery/types.js";

/** Lets every settled promise's callbacks run: no timers, no sleeping. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A resolver answering from a table; names can be held in flight and released by hand. */
class FakeDns {
  readonly answers = new Map<string, readonly string[] | Error>();
  readonly calls: string[] = [];
  hold = false;
  private readonly held: Array<() => void> = [];

  readonly resolve: DnsResolver = (name) => {
    this.calls.push(name);
    const answer = (): Promise<string[]> => {
      const a = this.answers.get(name);
      if (a === undefined) return Promise.reject(new Error(`queryA ENOTFOUND ${name}`));
      if (a instanceof Error) return Promise.reject(a);
      return Promise.resolve([...a]);
    };
    if (!this.hold) return answer();
    return new Promise((resolve, reject) => {
      this.held.push(() => void answer().then(resolve, reject));
    });
  };

  release(): void {
    for (const r of this.held.splice(0)) r();
  }
}

function endpoint(address: string, port = 8080, weight = 1, labels: Record<string, string> = {}): Endpoint {
  return { address, port, weight, labels };
}

function setup(endpoints: Endpoint[], refreshMs?: number) {
  const clock = new ManualClock();
  const dns = new FakeDns();
  const updates: (readonly ResolvedEndpoint[])[] = [];
  const source = new DnsEndpointSource(endpoints, {
    clock,
    resolver: dns.resolve,
    label: "test",
    ...(refreshMs === undefined ? {} : { refreshMs }),
  });
  const addresses = (i = updates.length - 1): string[] => (updates[i] ?? []).map((e) => `${e.address.includes(":") ? `[${e.address}]` : e.address}:${e.port}`);
  return { clock, dns, updates, source, addresses, start: () => source.start((set) => updates.push(set)) };
}

test("dns resolves each name to all its addresses and passes IPs through", async () => {
  const t = setup([endpoint("api.internal", 9000, 3, { zone: "a" }), endpoint("10.9.9.9", 9001, 1), endpoint("v6.internal", 9002)]);
  t.dns.answers.set("api.internal", ["10.0.0.2", "10.0.0.1"]);
  t.dns.answers.set("v6.internal", ["2001:db8::1"]);
  t.start();
  await flush();
  assert.equal(t.updates.length, 1);
  assert.deepEqual(t.updates[0], [
    { address: "10.0.0.1", port: 9000, weight: 3, labels: { zone: "a" }, hostname: "api.internal" },
    { address: "10.0.0.2", port: 9000, weight: 3, labels: { zone: "a" }, hostname: "api.internal" },
    { address: "10.9.9.9", port: 9001, weight: 1, labels: {} },
    { address: "2001:db8::1", port: 9002, weight: 1, labels: {}, hostname: "v6.internal" },
  ]);
  assert.deepEqual(t.dns.calls, ["api.internal", "v6.internal"]); // the IP was not looked up
  t.source.stop();
});

test("dns looks each distinct name up once per round", async () => {
  const t = setup([endpoint("svc", 80), endpoint("svc", 81)]);
  t.dns.answers.set("svc", ["10.0.0.1"]);
  t.start();
  await flush();
  assert.deepEqual(t.dns.calls, ["svc"]);
  assert.deepEqual(t.addresses(), ["10.0.0.1:80", "10.0.0.1:81"]);
  t.source.stop();
});

test("dns re-resolves every refreshMs on the injected clock (default 5s), not before", async () => {
  assert.equal(DEFAULT_DNS_REFRESH_MS, 5000);
  const t = setup([endpoint("svc")]);
  t.dns.answers.set("svc", ["10.0.0.1"]);
  t.start();
  await flush();
  assert.equal(t.dns.calls.length, 1);
  t.clock.advance(4999);
  await flush();
  assert.equal(t.dns.calls.length, 1);
  t.clock.advance(1);
  await flush();
  assert.equal(t.dns.calls.length, 2);
  t.clock.advance(5000);
  await flush();
  t.clock.advance(5000);
  await flush();
  assert.equal(t.dns.calls.length, 4);
  t.source.stop();
});

test("dns honours a custom refresh interval", async () => {
  const t = setup([endpoint("svc")], 250);
  t.dns.answers.set("svc", ["10.0.0.1"]);
  t.start();
  await flush();
  t.clock.advance(250);
  await flush();
  assert.equal(t.dns.calls.length, 2);
  t.source.stop();
});

test("dns emits only when the set changes, not when the answer order does", async () => {
  const t = setup([endpoint("svc")]);
  t.dns.answers.set("svc", ["10.0.0.1", "10.0.0.2"]);
  t.start();
  await flush();
  t.dns.answers.set("svc", ["10.0.0.2", "10.0.0.1"]);
  t.clock.advance(5000);
  await flush();
  assert.equal(t.updates.length, 1);
  t.dns.answers.set("svc", ["10.0.0.2", "10.0.0.3"]);
  t.clock.advance(5000);
  await flush();
  assert.equal(t.updates.length, 2);
  assert.deepEqual(t.addresses(), ["10.0.0.2:8080", "10.0.0.3:8080"]);
  t.source.stop();
});

test("dns keeps a name's last good addresses when its lookup fails, and updates the others", async () => {
  const t = setup([endpoint("a.svc"), endpoint("b.svc")]);
  t.dns.answers.set("a.svc", ["10.0.0.1"]);
  t.dns.answers.set("b.svc", ["10.0.1.1"]);
  t.start();
  await flush();
  t.dns.answers.set("a.svc", new Error("queryA ETIMEOUT a.svc"));
  t.clock.advance(5000);
  await flush();
  assert.equal(t.updates.length, 1, "a failure alone is not a change");
  t.dns.answers.set("b.svc", ["10.0.1.2"]);
  t.clock.advance(5000);
  await flush();
  assert.deepEqual(t.addresses(), ["10.0.0.1:8080", "10.0.1.2:8080"]);
  // Still failing after that: refreshes keep going.
  t.clock.advance(5000);
  await flush();
  assert.equal(t.dns.calls.filter((n) => n === "a.svc").length, 4);
  t.source.stop();
});

test("dns counts a resolver that throws synchronously as a failed lookup", async () => {
  const clock = new ManualClock();
  let fail = false;
  const resolver: DnsResolver = (name) => {
    if (fail) throw new Error(`broken resolver for ${name}`);
    return Promise.resolve(["10.0.0.1"]);
  };
  const updates: (readonly ResolvedEndpoint[])[] = [];
  const source = new DnsEndpointSource([endpoint("svc")], { clock, resolver });
  source.start((set) => updates.push(set));
  await flush();
  fail = true;
  clock.advance(5000);
  await flush();
  assert.equal(updates.length, 1);
  assert.equal(clock.pendingTimers(), 1, "the next refresh is still scheduled");
  source.stop();
});

test("dns emits after the first round even when every lookup failed", async () => {
  const t = setup([endpoint("gone.svc"), endpoint("10.0.0.9")]);
  t.start();
  await flush();
  assert.equal(t.updates.length, 1);
  assert.deepEqual(t.addresses(), ["10.0.0.9:8080"]);
  t.dns.answers.set("gone.svc", ["10.0.0.1"]);
  t.clock.advance(5000);
  await flush();
  assert.deepEqual(t.addresses(), ["10.0.0.1:8080", "10.0.0.9:8080"]);
  t.source.stop();
});

test("dns removes a name's endpoints when a lookup succeeds with no addresses", async () => {
  const t = setup([endpoint("svc")]);
  t.dns.answers.set("svc", ["10.0.0.1"]);
  t.start();
  await flush();
  t.dns.answers.set("svc", []);
  t.clock.advance(5000);
  await flush();
  assert.equal(t.updates.length, 2);
  assert.deepEqual(t.updates[1], []);
  t.source.stop();
});

test("dns drops answers that are not IP addresses and lists an ip:port once", async () => {
  const t = setup([endpoint("a.svc"), endpoint("b.svc")]);
  t.dns.answers.set("a.svc", ["10.0.0.1", "not-an-ip", "10.0.0.1"]);
  t.dns.answers.set("b.svc", ["10.0.0.1", "10.0.0.2"]);
  t.start();
  await flush();
  assert.deepEqual(t.addresses(), ["10.0.0.1:8080", "10.0.0.2:8080"]);
  assert.equal(t.updates[0]![0]!.hostname, "a.svc", "the first configured name wins");
  t.source.stop();
});

test("dns stop cancels the refresh timer", async () => {
  const t = setup([endpoint("svc")]);
  t.dns.answers.set("svc", ["10.0.0.1"]);
  t.start();
  await flush();
  assert.equal(t.clock.pendingTimers(), 1);
  t.source.stop();
  assert.equal(t.clock.pendingTimers(), 0);
  t.clock.advance(60_000);
  await flush();
  assert.equal(t.dns.calls.length, 1);
});

test("dns stop ignores a lookup still in flight", async () => {
  const t = setup([endpoint("svc")]);
  t.dns.answers.set("svc", ["10.0.0.1"]);
  t.dns.hold = true;
  t.start();
  await flush();
  assert.equal(t.updates.length, 0);
  t.source.stop();
  t.dns.release();
  await flush();
  assert.equal(t.updates.length, 0);
  assert.equal(t.clock.pendingTimers(), 0, "no refresh scheduled after stop");
});

test("dns refuses to start twice or after stop", () => {
  const t = setup([endpoint("svc")]);
  t.start();
  assert.throws(() => t.start(), /already resolving/);
  t.source.stop();
  assert.throws(() => t.start(), /already stopped/);
});

test("dns keeps refreshing when the update handler throws", async () => {
  const clock = new ManualClock();
  const dns = new FakeDns();
  dns.answers.set("svc", ["10.0.0.1"]);
  let calls = 0;
  const source = new DnsEndpointSource([endpoint("svc")], { clock, resolver: dns.resolve });
  source.start(() => {
    calls++;
    throw new Error("consumer bug");
  });
  await flush();
  dns.answers.set("svc", ["10.0.0.2"]);
  clock.advance(5000);
  await flush();
  assert.equal(calls, 2);
  source.stop();
});

test("dns with the default resolver resolves localhost", async () => {
  const clock = new ManualClock();
  const source = new DnsEndpointSource([endpoint("localhost", 50051)], { clock });
  const set = await new Promise<readonly ResolvedEndpoint[]>((resolve) => source.start(resolve));
  source.stop();
  assert.ok(set.length >= 1, "localhost resolved to nothing");
  for (const e of set) {
    assert.ok(e.address === "127.0.0.1" || e.address === "::1" || e.address.startsWith("127."), e.address);
    assert.equal(e.port, 50051);
    assert.equal(e.hostname, "localhost");
  }
});

test("dns gives up on a lookup that never answers, keeps the last good set, and refreshes on", async () => {
  const clock = new ManualClock();
  const dns = new FakeDns();
  dns.answers.set("svc", ["10.0.0.1"]);
  const updates: (readonly ResolvedEndpoint[])[] = [];
  const source = new DnsEndpointSource([endpoint("svc")], { clock, resolver: dns.resolve, lookupTimeoutMs: 1000 });
  source.start((set) => updates.push(set));
  await flush();
  assert.equal(updates.length, 1);
  dns.hold = true; // the next lookup hangs
  dns.answers.set("svc", ["10.0.0.2"]);
  clock.advance(5000);
  await flush();
  clock.advance(999);
  await flush();
  assert.equal(clock.pendingTimers(), 1, "only the lookup timeout is pending");
  clock.advance(1);
  await flush();
  assert.equal(updates.length, 1, "the last good set stays");
  dns.release(); // the late answer belongs to a finished round: ignored
  await flush();
  assert.equal(updates.length, 1);
  dns.hold = false;
  clock.advance(5000);
  await flush();
  assert.equal(updates.length, 2);
  assert.equal(updates[1]![0]!.address, "10.0.0.2");
  source.stop();
});

test("dns emits the first round after the lookup timeout when a lookup hangs", async () => {
  const clock = new ManualClock();
  const dns = new FakeDns();
  dns.hold = true;
  const updates: (readonly ResolvedEndpoint[])[] = [];
  const source = new DnsEndpointSource([endpoint("svc"), endpoint("10.0.0.9")], { clock, resolver: dns.resolve });
  source.start((set) => updates.push(set));
  await flush();
  assert.equal(updates.length, 0);
  clock.advance(5000); // DEFAULT_DNS_LOOKUP_TIMEOUT_MS
  await flush();
  assert.equal(updates.length, 1);
  assert.deepEqual(
    updates[0]!.map((e) => e.address),
    ["10.0.0.9"],
  );
  source.stop();
  assert.equal(clock.pendingTimers(), 0);
});

test("dns: a reload's new source adopts the old one's last good answers, so a failed first lookup keeps them", async () => {
  const old = setup([endpoint("api.internal", 9000)]);
  old.dns.answers.set("api.internal", ["10.0.0.1"]);
  old.start();
  await flush();
  assert.deepEqual(old.addresses(), ["10.0.0.1:9000"]);
  // The reload changed the weight: a new source, whose resolver now fails.
  const next = setup([endpoint("api.internal", 9000, 2)]);
  next.dns.answers.set("api.internal", new Error("SERVFAIL"));
  next.source.adopt(old.source);
  old.source.stop();
  next.start();
  await flush();
  assert.deepEqual(next.addresses(), ["10.0.0.1:9000"]);
  assert.equal(next.updates[0]![0]!.weight, 2);
});
