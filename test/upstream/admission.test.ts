// A cluster's admission: the http2MaxRequests circuit breaker, the retry limit (maxRetries,
// or the retry budget that replaces it), the replay buffer's budget, and the counts an RPC
// holds, each released exactly once by end(), whatever else was called before or after.
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { AttemptEnd, type AttemptOutcome } from "../../src/balancer/outcome.js";
import type { LbEndpoint } from "../../src/balancer/types.js";
import { ManualClock } from "../../src/core/clock.js";
import { ClusterAdmission, type Admission } from "../../src/upstream/admission.js";
import { admissionSource } from "../support/admission.js";

const source = admissionSource;

function endpoint(key: string): LbEndpoint {
  return { key, address: "127.0.0.1", port: 1, weight: 1, labels: {}, load: { activeRequests: 0, activeConnections: 0 } };
}

function admitted(cluster: ClusterAdmission): Admission {
  const a = cluster.admit();
  assert.ok(a !== null, "admitted");
  return a;
}

test("http2MaxRequests: past the limit an RPC is refused and counted as an overflow; an ended RPC makes room", () => {
  const cluster = new ClusterAdmission(source({ http2MaxRequests: 2 }));
  const a = admitted(cluster);
  admitted(cluster);
  assert.equal(cluster.admit(), null);
  assert.equal(cluster.admit(), null);
  assert.deepEqual([cluster.stats.active, cluster.stats.overflows], [2, 2]);
  a.end(true);
  assert.equal(cluster.stats.active, 1);
  assert.ok(cluster.admit() !== null);
  assert.deepEqual([cluster.stats.active, cluster.stats.overflows], [2, 2]);
});

test("the endpoint of each attempt counts the RPC during that attempt only", () => {
  const cluster = new ClusterAdmission(source());
  const [e1, e2] = [endpoint("a:1"), endpoint("b:1")];
  const a = admitted(cluster);
  a.enter(e1);
  assert.deepEqual([e1.load.activeRequests, e2.load.activeRequests], [1, 0]);
  a.leave();
  assert.deepEqual([e1.load.activeRequests, e2.load.activeRequests], [0, 0]);
  a.enter(e2);
  // Entering another endpoint leaves the one before, should the caller not have.
  a.enter(e1);
  assert.deepEqual([e1.load.activeRequests, e2.load.activeRequests], [1, 0]);
  a.end(true);
  assert.deepEqual([e1.load.activeRequests, e2.load.activeRequests], [0, 0]);
});

test("end() twice is harmless: every count is released once", () => {
  const cluster = new ClusterAdmission(source());
  const e = endpoint("a:1");
  const other = admitted(cluster);
  other.enter(e);
  other.retried();
  const a = admitted(cluster);
  a.enter(e);
  a.retried();
  a.end(true);
  a.end(false);
  a.leave();
  assert.deepEqual([cluster.stats.active, cluster.stats.activeRetries, e.load.activeRequests], [1, 1, 1], "the other RPC's counts stay");
  assert.equal(cluster.stats.retry.successes, 1, "one success, not two");
});

test("after end() nothing is taken again: no endpoint count, no retry slot, no retry counted", () => {
  const cluster = new ClusterAdmission(source());
  const e = endpoint("a:1");
  const a = admitted(cluster);
  a.end(false);
  a.enter(e);
  a.retried();
  a.replayed();
  a.retryDenied("budget-refused");
  assert.equal(a.retryRefusal(), undefined);
  assert.deepEqual(cluster.stats, {
    active: 0,
    overflows: 0,
    activeRetries: 0,
    retry: { retries: 0, successes: 0, overflows: 0, limitExceeded: 0, transparent: 0 },
    pinMoves: { left: 0, excluded: 0, unreachable: 0 },
    replayBuffer: { bytes: 0, overLimit: 0, overBudget: 0 },
  });
  assert.equal(e.load.activeRequests, 0);
});

test("denied retries are counted as Envoy counts them: budget refusals as overflows, attempts past the route's as limitExceeded", () => {
  const cluster = new ClusterAdmission(source());
  for (const why of ["budget-refused", "budget-refused", "attempts-exhausted", "retries-off"] as const) admitted(cluster).retryDenied(why);
  assert.deepEqual(cluster.stats.retry, { retries: 0, successes: 0, overflows: 2, limitExceeded: 1, transparent: 0 });
});

test("a retry success: answered by the backend after a retry, and no later retry denied", () => {
  const cases: readonly { name: string; run: (a: Admission) => void; successes: number }[] = [
    { name: "retried, then answered", run: (a) => (a.retried(), a.end(true)), successes: 1 },
    { name: "retried twice, then answered: one RPC, one success", run: (a) => (a.retried(), a.retried(), a.end(true)), successes: 1 },
    { name: "retried, then a status of the proxy's own", run: (a) => (a.retried(), a.end(false)), successes: 0 },
    { name: "retried, then a retry denied, then answered", run: (a) => (a.retried(), a.retryDenied("attempts-exhausted"), a.end(true)), successes: 0 },
    { name: "answered without a retry", run: (a) => a.end(true), successes: 0 },
    { name: "replayed (transparent), then answered", run: (a) => (a.replayed(), a.end(true)), successes: 0 },
  ];
  for (const c of cases) {
    const cluster = new ClusterAdmission(source());
    c.run(admitted(cluster));
    assert.equal(cluster.stats.retry.successes, c.successes, c.name);
    assert.equal(cluster.stats.activeRetries, 0, c.name);
  }
});

test("maxRetries: an RPC takes a retry slot at its first retry and keeps it to its end; past the limit, the refusal names it", () => {
  const cluster = new ClusterAdmission(source({ maxRetries: 1 }));
  const a = admitted(cluster);
  const b = admitted(cluster);
  assert.equal(a.retryRefusal(), undefined);
  a.retried();
  a.retried();
  assert.equal(cluster.stats.activeRetries, 1, "one slot however many retries");
  assert.deepEqual([cluster.stats.retry.retries, a.retries], [2, 2]);
  assert.equal(a.retryRefusal(), undefined, "the RPC holding the slot is not refused");
  assert.equal(b.retryRefusal(), "maxRetries limit (1) reached for echo|50051|");
  a.end(true);
  assert.equal(b.retryRefusal(), undefined);
});

test("a retryBudget replaces maxRetries: percent of active and pending requests, at least minRetryConcurrency", () => {
  const src = source({ maxRetries: 0 }, { percent: 20, minRetryConcurrency: 2 });
  const cluster = new ClusterAdmission(src);
  const rpcs: Admission[] = [];
  for (let i = 0; i < 10; i++) rpcs.push(admitted(cluster));
  const retrying = (n: number): void => {
    for (const a of rpcs) if (!a.holdsRetrySlot && cluster.stats.activeRetries < n) a.retried();
  };
  // 10 active: 20% is 2, the minimum is 2.
  assert.equal(rpcs[9]!.retryRefusal(), undefined, "maxRetries 0 does not apply");
  retrying(2);
  assert.equal(rpcs[9]!.retryRefusal(), "retryBudget (20% of active requests, at least 2) exhausted for echo|50051|");
  // 10 active and 10 waiting for a connection: 20% is 4.
  src.pending.count = 10;
  assert.equal(rpcs[9]!.retryRefusal(), undefined);
  retrying(4);
  assert.notEqual(rpcs[9]!.retryRefusal(), undefined);
  src.pending.count = 0;
  // Few requests: the minimum holds.
  const small = new ClusterAdmission(source({}, { percent: 20, minRetryConcurrency: 3 }));
  const [x, y, z, w] = [admitted(small), admitted(small), admitted(small), admitted(small)];
  x.retried();
  y.retried();
  assert.equal(z.retryRefusal(), undefined, "2 of 4 retrying, under the minimum 3");
  z.retried();
  assert.notEqual(w.retryRefusal(), undefined);
});

type Op =
  | { readonly op: "enter"; readonly endpoint: 0 | 1 }
  | { readonly op: "leave" | "retried" | "replayed" | "refusal" }
  | { readonly op: "denied"; readonly why: "retries-off" | "attempts-exhausted" | "budget-refused" }
  | { readonly op: "end"; readonly answered: boolean }
  | { readonly op: "keep"; readonly bytes: number }
  | { readonly op: "drop" };

const ops: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("enter" as const), endpoint: fc.constantFrom(0 as const, 1 as const) }),
  fc.record({ op: fc.constantFrom("leave" as const, "retried" as const, "replayed" as const, "refusal" as const) }),
  fc.record({ op: fc.constant("denied" as const), why: fc.constantFrom("retries-off" as const, "attempts-exhausted" as const, "budget-refused" as const) }),
  fc.record({ op: fc.constant("end" as const), answered: fc.boolean() }),
  fc.record({ op: fc.constant("keep" as const), bytes: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ op: fc.constant("drop" as const) }),
);

test("whatever the order of calls, counts never go negative, and once every RPC has ended nothing is held", () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(2), ops), { maxLength: 60 }), (script) => {
      const cluster = new ClusterAdmission(source({ maxRetries: 2 }));
      const endpoints = [endpoint("a:1"), endpoint("b:1")] as const;
      const rpcs = [admitted(cluster), admitted(cluster), admitted(cluster)];
      for (const [i, step] of script) {
        const a = rpcs[i]!;
        if (step.op === "enter") a.enter(endpoints[step.endpoint]);
        else if (step.op === "leave") a.leave();
        else if (step.op === "retried") a.retried();
        else if (step.op === "replayed") a.replayed();
        else if (step.op === "refusal") a.retryRefusal();
        else if (step.op === "denied") a.retryDenied(step.why);
        else if (step.op === "end") a.end(step.answered);
        else if (step.op === "keep") a.keepForReplay(step.bytes, 50, 100);
        else if (step.op === "drop") a.dropReplay();
        const s = cluster.stats;
        assert.ok(s.active >= 0 && s.active <= 3 && s.activeRetries >= 0 && s.activeRetries <= s.active);
        assert.ok(s.replayBuffer.bytes >= 0 && s.replayBuffer.bytes <= 100, "the replay buffer within its budget");
        const onEndpoints = endpoints[0].load.activeRequests + endpoints[1].load.activeRequests;
        assert.ok(onEndpoints >= 0 && onEndpoints <= s.active, "an RPC counts on one endpoint at most");
      }
      for (const a of rpcs) a.end(true);
      const s = cluster.stats;
      assert.deepEqual([s.active, s.activeRetries, endpoints[0].load.activeRequests, endpoints[1].load.activeRequests, s.replayBuffer.bytes], [0, 0, 0, 0, 0]);
      assert.ok(s.retry.successes <= 3);
    }),
  );
});

test("the replay buffer: an RPC keeps its request within its own limit and the cluster's budget; past either it lets go of all it kept, counted by the limit met", () => {
  const cluster = new ClusterAdmission(source());
  const [a, b, c] = [admitted(cluster), admitted(cluster), admitted(cluster)];
  const keep = (rpc: Admission, bytes: number): boolean => rpc.keepForReplay(bytes, 100, 250);
  assert.deepEqual([keep(a, 60), keep(a, 40), keep(b, 90), keep(c, 50)], [true, true, true, true]);
  assert.deepEqual(cluster.stats.replayBuffer, { bytes: 240, overLimit: 0, overBudget: 0 });
  assert.equal(keep(a, 1), false, "a's own limit (100)");
  assert.deepEqual(cluster.stats.replayBuffer, { bytes: 140, overLimit: 1, overBudget: 0 });
  assert.equal(keep(b, 5), true);
  assert.equal(keep(c, 40), true);
  assert.equal(cluster.stats.replayBuffer.bytes, 185);
  const e = admitted(cluster);
  assert.equal(keep(e, 30), true);
  assert.equal(keep(e, 40), false, "the cluster's budget (250): e lets go of its 30");
  assert.deepEqual(cluster.stats.replayBuffer, { bytes: 185, overLimit: 1, overBudget: 1 });
  b.dropReplay(); // the response began
  c.end(true);
  assert.equal(cluster.stats.replayBuffer.bytes, 0);
  const d = admitted(cluster);
  keep(d, 70);
  d.end(true);
  assert.equal(keep(d, 1), false, "nothing is kept once the RPC ended");
  assert.deepEqual(cluster.stats.replayBuffer, { bytes: 0, overLimit: 1, overBudget: 1 });
});

test("an attempt is timed from enter() and reported to the outcome channel against its endpoint, even after leave(); nothing is timed while no one listens", () => {
  const clock = new ManualClock();
  const heard: AttemptOutcome[] = [];
  const observed = { ...source(), clock, observed: true, attemptEnded: (o: AttemptOutcome) => void heard.push(o) };
  const a = new ClusterAdmission(observed).admit()!;
  const [e1, e2] = [endpoint("10.0.0.1:1"), endpoint("10.0.0.2:1")];
  a.enter(e1);
  clock.advance(30);
  a.attemptEnded(AttemptEnd.CONNECT_FAILURE, -1);
  a.enter(e2);
  clock.advance(5);
  a.leave();
  clock.advance(2);
  a.attemptEnded(AttemptEnd.RESPONSE, 14);
  a.end(false);
  assert.deepEqual(heard, [
    { endpoint: e1, end: AttemptEnd.CONNECT_FAILURE, grpcStatus: -1, durationMs: 30 },
    { endpoint: e2, end: AttemptEnd.RESPONSE, grpcStatus: 14, durationMs: 7 },
  ]);
  const quiet = new ClusterAdmission({ ...observed, observed: false }).admit()!;
  quiet.enter(e1);
  quiet.attemptEnded(AttemptEnd.RESPONSE, 0);
  assert.equal(heard.length, 2, "no one listens: nothing reported");
});
