// PEAK_EWMA on a manual clock with seeded randomness: the estimate's peak and decay rules,
// and how picks follow latency and in-flight load.
import { test } from "node:test";
import assert from "node:assert/strict";
import { peakEwmaPolicy, RttEstimate } from "../../src/balancer/peak-ewma.js";
import { ManualClock } from "../../src/core/clock.js";
import { Status } from "../../src/core/status.js";
import { AttemptEnd } from "../../src/balancer/outcome.js";
import { assertShares, makeDeps, makeEndpoints, pickKey, shares } from "./fixtures.js";

const near = (got: number, want: number, what: string): void => assert.ok(Math.abs(got - want) < 1e-9, `${what}: got ${got}, want ${want}`);

test("an RTT estimate jumps to a higher sample at once (the peak)", () => {
  const e = new RttEstimate(30, 0, 10_000);
  near(e.update(0, 200), 200, "peak");
  near(e.update(1, 250), 250, "higher peak");
});

test("an RTT estimate moves towards a lower sample with weight 1 - exp(-elapsed / decay)", () => {
  const e = new RttEstimate(100, 0, 10_000);
  near(e.update(10_000, 20), 100 * Math.exp(-1) + 20 * (1 - Math.exp(-1)), "one decay period");
  const f = new RttEstimate(100, 0, 10_000);
  near(f.update(0, 20), 100, "no time elapsed: the old estimate stands");
});

test("reading an RTT estimate decays it towards 0 (tower's load read)", () => {
  const e = new RttEstimate(100, 0, 1000);
  near(e.read(1000), 100 * Math.exp(-1), "after one decay period");
  near(e.read(2000), 100 * Math.exp(-2), "reads compose");
});

test("peak EWMA needs a clock and valid durations", () => {
  assert.throws(() => peakEwmaPolicy(makeDeps(1)), /needs a clock/);
  const clock = new ManualClock();
  assert.throws(() => peakEwmaPolicy(makeDeps(1, { clock }), { decayMs: 0 }), /decay must be > 0/);
  assert.throws(() => peakEwmaPolicy(makeDeps(1, { clock }), { defaultRttMs: -1 }), /default RTT must be > 0/);
});

test("peak EWMA over zero endpoints fails with no healthy upstream", () => {
  const picker = peakEwmaPolicy(makeDeps(1, { clock: new ManualClock() }))([]);
  assert.deepEqual(picker.pick({} as never), { kind: "fail", status: Status.UNAVAILABLE, message: "no healthy upstream" });
});

test("new endpoints start equal: picks spread evenly", () => {
  const endpoints = makeEndpoints([1, 1, 1]);
  const picker = peakEwmaPolicy(makeDeps(7, { clock: new ManualClock() }))(endpoints);
  assertShares(shares(picker, endpoints, 30_000), [1 / 3, 1 / 3, 1 / 3], 0.015, "equal estimates");
});

test("a slow endpoint loses every comparison, and P2C samples two distinct endpoints, so it gets no picks", () => {
  const clock = new ManualClock();
  const endpoints = makeEndpoints([1, 1, 1]);
  const policy = peakEwmaPolicy(makeDeps(3, { clock }));
  const picker = policy(endpoints);
  policy.outcomes?.attemptEnded({ endpoint: endpoints[0]!, end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 500 });
  // Endpoint 0 costs 500, the others 30: it loses every comparison it is in.
  assertShares(shares(picker, endpoints, 30_000), [0, 0.5, 0.5], 0.015, "one slow endpoint");
});

test("in-flight calls multiply the cost: a fast endpoint with many calls in flight loses to a slower idle one", () => {
  const clock = new ManualClock();
  const endpoints = makeEndpoints([1, 1]);
  const policy = peakEwmaPolicy(makeDeps(3, { clock }));
  const picker = policy(endpoints);
  policy.outcomes?.attemptEnded({ endpoint: endpoints[1]!, end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 60 }); // 60 vs 30 default
  assert.equal(pickKey(picker), endpoints[0]!.key);
  endpoints[0]!.load.activeRequests = 2; // 30 * 3 = 90 > 60 * 1
  assert.equal(pickKey(picker), endpoints[1]!.key);
});

test("estimates survive a picker rebuild; an endpoint that leaves and returns starts from the default", () => {
  const clock = new ManualClock();
  const endpoints = makeEndpoints([1, 1]);
  const policy = peakEwmaPolicy(makeDeps(3, { clock }));
  policy(endpoints);
  policy.outcomes?.attemptEnded({ endpoint: endpoints[0]!, end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 500 });
  assert.equal(pickKey(policy(endpoints)), endpoints[1]!.key, "rebuilt picker still knows endpoint 0 is slow");
  policy([endpoints[1]!]);
  const back = policy(endpoints);
  // Both at the default again: the first sampled wins ties, so both get picks.
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) seen.add(pickKey(back));
  assert.equal(seen.size, 2);
});

test("a slow endpoint's estimate decays, so it is probed again after a few decay periods", () => {
  const clock = new ManualClock();
  const endpoints = makeEndpoints([1, 1]);
  const policy = peakEwmaPolicy(makeDeps(3, { clock }), { decayMs: 1000, defaultRttMs: 30 });
  const picker = policy(endpoints);
  policy.outcomes?.attemptEnded({ endpoint: endpoints[0]!, end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 300 });
  policy.outcomes?.attemptEnded({ endpoint: endpoints[1]!, end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 10 });
  assert.equal(pickKey(picker), endpoints[1]!.key);
  // Both estimates decay towards 0 at the same rate: 300 e^-t vs ~10 e^-t keep their
  // order; a fresh fast sample on endpoint 1 after a long quiet time raises it above 0's.
  clock.advance(5000);
  policy.outcomes?.attemptEnded({ endpoint: endpoints[1]!, end: AttemptEnd.RESPONSE, grpcStatus: 0, durationMs: 10 });
  assert.equal(pickKey(picker), endpoints[0]!.key);
});

test("an endpoint that fails fast is no black hole: each server-side failure at least doubles its estimate", () => {
  const clock = new ManualClock();
  const endpoints = makeEndpoints([1, 1, 1]);
  const policy = peakEwmaPolicy(makeDeps(3, { clock }));
  const picker = policy(endpoints);
  clock.advance(100_000); // long after the estimates began: new samples weigh fully
  // The healthy ones answer in 20 ms; endpoint 0 answers UNAVAILABLE in half a millisecond.
  for (const e of endpoints.slice(1)) policy.outcomes?.attemptEnded({ endpoint: e, end: AttemptEnd.RESPONSE, grpcStatus: Status.OK, durationMs: 20 });
  policy.outcomes?.attemptEnded({ endpoint: endpoints[0]!, end: AttemptEnd.RESPONSE, grpcStatus: Status.UNAVAILABLE, durationMs: 0.5 });
  // 2 x the 30 ms default: 60 ms, above the healthy 20 ms, so it loses every comparison.
  assertShares(shares(picker, endpoints, 30_000), [0, 0.5, 0.5], 0.015, "fast failures");
  // A client-side-looking status (NOT_FOUND, a 404) is an answer like any other.
  const other = peakEwmaPolicy(makeDeps(3, { clock }));
  const otherPicker = other(endpoints);
  clock.advance(100_000);
  for (const e of endpoints.slice(1)) other.outcomes?.attemptEnded({ endpoint: e, end: AttemptEnd.RESPONSE, grpcStatus: Status.OK, durationMs: 20 });
  other.outcomes?.attemptEnded({ endpoint: endpoints[0]!, end: AttemptEnd.RESPONSE, grpcStatus: Status.NOT_FOUND, durationMs: 0.5 });
  assert.ok(shares(otherPicker, endpoints, 30_000)[0]! > 0.4, "a fast NOT_FOUND still draws calls");
});
