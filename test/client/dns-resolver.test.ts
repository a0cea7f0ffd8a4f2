// The dns resolver's timing and reporting rules, on a manual clock with a scripted DNS:
// period, TTL, floor, updateResolution() rate limiting, failures, destroy().
import { test } from "node:test";
import assert from "node:assert/strict";
import { experimental, type ChannelOptions } from "@grpc/grpc-js";
import { ManualClock } from "../../src/core/clock.js";
import {
  DEFAULT_DNS_REFRESH_INTERVAL_MS,
  DNS_MIN_TIME_OPTION,
  DNS_REFRESH_INTERVAL_OPTION,
  dnsResolverClass,
  type AddressAnswer,
  type AddressLookup,
} from "../../src/client/dns-resolver.js";

/** Lets settled promises' callbacks and setImmediate callbacks run. */
const flush = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
};

class FakeDns {
  answer: AddressAnswer | Error = { addresses: ["10.0.0.1", "10.0.0.2"], ttlSeconds: 3600 };
  readonly queries: { host: string; server: string | undefined; at: number }[] = [];
  cancels = 0;
  constructor(private readonly clock: ManualClock) {}
  readonly lookupFor = (server: string | undefined): AddressLookup => ({
    lookup: (host) => {
      this.queries.push({ host, server, at: this.clock.now() });
      const a = this.answer;
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
    cancel: () => {
      this.cancels++;
    },
  });
}

type Report = { ok: true; endpoints: string[] } | { ok: false; code: number; details: string };

function setup(target: string, options: ChannelOptions = {}) {
  const clock = new ManualClock();
  const dns = new FakeDns(clock);
  const reports: Report[] = [];
  const Resolver = dnsResolverClass({ clock, random: () => 0.5, lookupFor: dns.lookupFor });
  const uri = parse(target);
  const resolver = new Resolver(
    uri,
    (result) => {
      reports.push(
        result.ok
          ? { ok: true, endpoints: result.value.map((e) => experimental.endpointToString(e)) }
          : { ok: false, code: result.error.code, details: result.error.details },
      );
      return true;
    },
    options,
  );
  /**
   * Advances the clock in 50 ms steps, letting the lookups each step starts answer before
   * the next (a lookup's answer schedules the following one).
   */
  const advance = async (ms: number): Promise<void> => {
    for (let left = ms; left > 0; left -= 50) {
      clock.advance(Math.min(50, left));
      await flush();
    }
  };
  return { clock, dns, reports, resolver, advance };
}

function parse(target: string): experimental.GrpcUri {
  const m = /^([a-z]+):(?:\/\/([^/]*)\/)?(.+)$/.exec(target);
  assert.ok(m !== null, target);
  return { scheme: m[1], authority: m[2], path: m[3]! };
}

const fast = { [DNS_REFRESH_INTERVAL_OPTION]: 1000, [DNS_MIN_TIME_OPTION]: 100 };

test("nothing happens before updateResolution(); the first result is reported", async () => {
  const { dns, reports, resolver } = setup("dns:///echo.test:50051");
  await flush();
  assert.equal(dns.queries.length, 0);
  resolver.updateResolution();
  assert.equal(reports.length, 0, "never reported synchronously");
  await flush();
  assert.deepEqual(reports, [{ ok: true, endpoints: ["[10.0.0.1:50051]", "[10.0.0.2:50051]"] }]);
  assert.deepEqual(dns.queries, [{ host: "echo.test", server: undefined, at: 0 }]);
});

test("the authority names the DNS server; the port defaults to 443", async () => {
  const { dns, reports, resolver } = setup("dns://127.0.0.1:5353/echo.test");
  resolver.updateResolution();
  await flush();
  assert.equal(dns.queries[0]?.server, "127.0.0.1:5353");
  assert.deepEqual(reports, [{ ok: true, endpoints: ["[10.0.0.1:443]", "[10.0.0.2:443]"] }]);
});

test("re-resolves every period and reports only changes (answer order is no change)", async () => {
  const { dns, reports, resolver, advance } = setup("dns:///echo.test:1", fast);
  resolver.updateResolution();
  await flush();
  await advance(999);
  assert.equal(dns.queries.length, 1);
  dns.answer = { addresses: ["10.0.0.2", "10.0.0.1"], ttlSeconds: 3600 };
  await advance(1);
  assert.equal(dns.queries.length, 2);
  assert.equal(reports.length, 1, "same set in another order: not reported");
  dns.answer = { addresses: ["10.0.0.2", "10.0.0.1", "10.0.0.3"], ttlSeconds: 3600 };
  await advance(1000);
  assert.equal(dns.queries.length, 3);
  assert.deepEqual(reports[1], { ok: true, endpoints: ["[10.0.0.2:1]", "[10.0.0.1:1]", "[10.0.0.3:1]"] });
});

test("a TTL below the period brings the refresh forward, but not below the floor", async () => {
  const { dns, resolver, advance } = setup("dns:///echo.test:1", { [DNS_REFRESH_INTERVAL_OPTION]: 60_000, [DNS_MIN_TIME_OPTION]: 5000 });
  dns.answer = { addresses: ["10.0.0.1"], ttlSeconds: 10 };
  resolver.updateResolution();
  await flush();
  dns.answer = { addresses: ["10.0.0.1"], ttlSeconds: 1 };
  await advance(10_000);
  assert.deepEqual(
    dns.queries.map((q) => q.at),
    [0, 10_000],
    "TTL 10 s: next at 10 s",
  );
  await advance(10_000);
  assert.deepEqual(
    dns.queries.map((q) => q.at),
    [0, 10_000, 15_000, 20_000],
    "TTL 1 s: every 5 s, the floor",
  );
});

test("a TTL of 0 with no floor refreshes every second, not in a loop", async () => {
  const { dns, resolver, advance } = setup("dns:///echo.test:1", { [DNS_REFRESH_INTERVAL_OPTION]: 60_000, [DNS_MIN_TIME_OPTION]: 0 });
  dns.answer = { addresses: ["10.0.0.1"], ttlSeconds: 0 };
  resolver.updateResolution();
  await flush();
  await advance(3000);
  assert.deepEqual(
    dns.queries.map((q) => q.at),
    [0, 1000, 2000, 3000],
  );
  resolver.destroy();
});

test("defaults: 30 s period and floor; a shorter period lowers the unset floor", async () => {
  const a = setup("dns:///echo.test:1");
  a.dns.answer = { addresses: ["10.0.0.1"], ttlSeconds: 1 };
  a.resolver.updateResolution();
  await flush();
  await a.advance(DEFAULT_DNS_REFRESH_INTERVAL_MS * 2);
  assert.deepEqual(
    a.dns.queries.map((q) => q.at),
    [0, 30_000, 60_000],
  );
  const b = setup("dns:///echo.test:1", { [DNS_REFRESH_INTERVAL_OPTION]: 10_000 });
  b.dns.answer = { addresses: ["10.0.0.1"], ttlSeconds: 1 };
  b.resolver.updateResolution();
  await flush();
  await b.advance(20_000);
  assert.deepEqual(
    b.dns.queries.map((q) => q.at),
    [0, 10_000, 20_000],
    "asked for 10 s, gets 10 s",
  );
  const c = setup("dns:///echo.test:1", { [DNS_REFRESH_INTERVAL_OPTION]: 10_000, [DNS_MIN_TIME_OPTION]: 20_000 });
  c.resolver.updateResolution();
  await flush();
  await c.advance(40_000);
  assert.deepEqual(
    c.dns.queries.map((q) => q.at),
    [0, 20_000, 40_000],
    "an explicit floor wins",
  );
});

test("updateResolution() re-resolves at once, or once the floor has passed", async () => {
  const { dns, resolver, advance } = setup("dns:///echo.test:1", { [DNS_REFRESH_INTERVAL_OPTION]: 60_000, [DNS_MIN_TIME_OPTION]: 5000 });
  resolver.updateResolution();
  await flush();
  await advance(2000);
  resolver.updateResolution();
  resolver.updateResolution();
  await flush();
  assert.equal(dns.queries.length, 1, "held back by the floor");
  await advance(3000);
  assert.deepEqual(
    dns.queries.map((q) => q.at),
    [0, 5000],
  );
  await advance(10_000);
  resolver.updateResolution();
  await flush();
  assert.deepEqual(
    dns.queries.map((q) => q.at),
    [0, 5000, 15_000],
    "floor long passed: at once",
  );
});

test("a failure keeps the last good list (no report) and retries with backoff, capped at the period", async () => {
  const { dns, reports, resolver, advance } = setup("dns:///echo.test:1", { [DNS_REFRESH_INTERVAL_OPTION]: 10_000, [DNS_MIN_TIME_OPTION]: 100 });
  resolver.updateResolution();
  await flush();
  dns.answer = new Error("queryA ESERVFAIL echo.test");
  await advance(10_000);
  await advance(1000); // 1 s backoff x (1 + 0.2 x 0): random() = 0.5 is no jitter
  await advance(1600); // then x 1.6
  assert.deepEqual(
    dns.queries.map((q) => q.at),
    [0, 10_000, 11_000, 12_600],
  );
  await advance(40_000);
  // 2.56 s, 4.1 s, 6.55 s, then the 10 s period (the 50 ms steps round each up).
  const gaps = dns.queries.map((q, i, all) => q.at - (all[i - 1]?.at ?? 0)).slice(4);
  assert.deepEqual(
    gaps.map((g) => Math.round(g / 100) / 10),
    [2.6, 4.1, 6.6, 10, 10],
    "capped at the period",
  );
  assert.equal(reports.length, 1, "no error reported over a good list");
  dns.answer = { addresses: ["10.0.0.9"], ttlSeconds: 3600 };
  await advance(10_000);
  assert.deepEqual(reports[1], { ok: true, endpoints: ["[10.0.0.9:1]"] });
});

test("a failure with no good list yet is reported as UNAVAILABLE naming the target", async () => {
  const { dns, reports, resolver } = setup("dns:///nowhere.test:1", fast);
  dns.answer = new Error("queryA ENOTFOUND nowhere.test");
  resolver.updateResolution();
  await flush();
  assert.equal(reports.length, 1);
  const r = reports[0]!;
  assert.ok(!r.ok);
  assert.equal(r.code, 14);
  assert.match(r.details, /DNS resolution failed for dns:\/\/\/nowhere.test:1: queryA ENOTFOUND nowhere.test/);
});

test("an empty answer is a failure, not an empty list", async () => {
  const { dns, reports, resolver, advance } = setup("dns:///echo.test:1", fast);
  resolver.updateResolution();
  await flush();
  dns.answer = { addresses: [], ttlSeconds: 5 };
  await advance(1000);
  assert.equal(reports.length, 1);
});

test("destroy() cancels timers and lookups; updateResolution() starts over and reports again", async () => {
  const { clock, dns, reports, resolver, advance } = setup("dns:///echo.test:1", fast);
  resolver.updateResolution();
  await flush();
  assert.equal(clock.pendingTimers(), 1);
  resolver.destroy();
  assert.equal(clock.pendingTimers(), 0, "no timer left");
  await advance(10_000);
  assert.equal(dns.queries.length, 1);
  resolver.updateResolution();
  resolver.destroy();
  assert.equal(dns.cancels, 1, "the lookup in flight is cancelled");
  await flush();
  assert.equal(reports.length, 1, "a destroyed resolver reports nothing");
  resolver.updateResolution();
  await flush();
  assert.equal(reports.length, 2, "the same list again: the channel's new LB needs it");
});

test("IP literals pass through without a lookup", async () => {
  for (const [target, want] of [
    ["dns:///127.0.0.1:50051", "[127.0.0.1:50051]"],
    ["dns:///[::1]:50051", "[[::1]:50051]"],
    ["dns:///10.1.2.3", "[10.1.2.3:443]"],
  ] as const) {
    const { dns, reports, resolver } = setup(target);
    resolver.updateResolution();
    await flush();
    assert.equal(dns.queries.length, 0, target);
    assert.deepEqual(reports, [{ ok: true, endpoints: [want] }], target);
  }
});

test("bad targets and bad options are UNAVAILABLE statuses saying what is wrong", async () => {
  const cases: [string, ChannelOptions, number, RegExp][] = [
    ["dns:///echo.test:99999", {}, 14, /expected host or host:port/],
    ["dns:///[echo.test]:1", {}, 14, /expected host or host:port/],
    ["dns://not a server/echo.test:1", {}, 14, /bad DNS server "not a server"/],
    ["dns:///echo.test:1", { [DNS_REFRESH_INTERVAL_OPTION]: "5s" }, 14, /sluice.dns_refresh_interval_ms must be a whole number of milliseconds >= 1, got "5s"/],
    ["dns:///echo.test:1", { [DNS_MIN_TIME_OPTION]: -1 }, 14, /grpc.dns_min_time_between_resolutions_ms must be/],
  ];
  for (const [target, options, code, details] of cases) {
    const Resolver = dnsResolverClass();
    const reports: Report[] = [];
    const resolver = new Resolver(
      parse(target),
      (result) => {
        reports.push(result.ok ? { ok: true, endpoints: [] } : { ok: false, code: result.error.code, details: result.error.details });
        return true;
      },
      options,
    );
    resolver.updateResolution();
    await flush();
    resolver.destroy();
    assert.equal(reports.length, 1, target);
    const r = reports[0]!;
    assert.ok(!r.ok, target);
    assert.equal(r.code, code, `${target}: ${r.details}`);
    assert.match(r.details, details);
  }
});
