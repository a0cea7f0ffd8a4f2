// The load-weight estimator on a hand-driven clock: reports in, one tick per interval,
// weights out. Latency W = (in flight x interval) / completions, so a report of n completions
// and L in flight over 1 s says W = 1000 L / n ms.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LoadWeightEstimator, type Weights } from "../../src/xds-server/load-weights.js";
import { parseLoadStatsRequest } from "../../src/xds-server/lrs-server.js";

const C = "outbound|50051||echo";
const A = "10.0.0.1:50051";
const B = "10.0.0.2:50051";
const S = "10.0.0.3:50051";
const INTERVAL = 1000;

interface Window {
  readonly ok?: number;
  readonly err?: number;
  readonly issued?: number;
  readonly inProgress: number;
}

/** An estimator serving A, B, S in cluster C, and a clock the test moves. */
function setup(endpoints: readonly string[] = [A, B, S]): { est: LoadWeightEstimator; clock: { t: number } } {
  const clock = { t: 0 };
  const est = new LoadWeightEstimator({ intervalMs: INTERVAL, now: () => clock.t });
  est.setEndpoints(new Map([[C, endpoints]]));
  return { est, clock };
}

/** `n` intervals, each: every endpoint reports its window, then the clock moves and the estimator ticks. Returns the last non-null tick. */
function run(est: LoadWeightEstimator, clock: { t: number }, n: number, windows: Readonly<Record<string, Window>>): Weights | null {
  let last: Weights | null = null;
  for (let i = 0; i < n; i++) {
    for (const [endpoint, w] of Object.entries(windows)) {
      const completed = (w.ok ?? 0) + (w.err ?? 0);
      est.record({
        cluster: C,
        endpoint,
        issued: w.issued ?? completed,
        succeeded: w.ok ?? 0,
        failed: w.err ?? 0,
        inProgress: w.inProgress,
        intervalMs: INTERVAL,
      });
    }
    clock.t += INTERVAL;
    last = est.tick() ?? last;
  }
  return last;
}

function weightsOf(w: Weights | null): Record<string, number> {
  return Object.fromEntries(w?.get(C) ?? []);
}

// W: 10 ms for A and B (100 calls, 1 in flight), 20 ms for S (100 calls, 2 in flight).
const STEADY = { [A]: { ok: 100, inProgress: 1 }, [B]: { ok: 100, inProgress: 1 }, [S]: { ok: 100, inProgress: 2 } };

test("an endpoint twice as slow gets half the fastest's weight; the fastest gets 100", () => {
  const { est, clock } = setup();
  assert.deepEqual(weightsOf(run(est, clock, 5, STEADY)), { [A]: 100, [B]: 100, [S]: 50 });
  assert.deepEqual(weightsOf(est.current()), { [A]: 100, [B]: 100, [S]: 50 });
  const estimates = est.estimates()[C] ?? {};
  assert.ok(Math.abs((estimates[S]?.latencyMs ?? 0) - 20) < 1e-9);
});

test("reports from several clients add up: W = sum(in flight x interval) / sum(completions)", () => {
  const { est, clock } = setup();
  for (let i = 0; i < 5; i++) {
    // Client 1 sees S at 30 ms (50 calls, 1.5 in flight: rounded to 1 or 2), client 2 at 30 ms too.
    est.record({ cluster: C, endpoint: S, issued: 50, succeeded: 50, failed: 0, inProgress: 1, intervalMs: 1000 });
    est.record({ cluster: C, endpoint: S, issued: 50, succeeded: 50, failed: 0, inProgress: 2, intervalMs: 1000 });
    for (const e of [A, B]) est.record({ cluster: C, endpoint: e, issued: 100, succeeded: 100, failed: 0, inProgress: 1, intervalMs: 1000 });
    clock.t += INTERVAL;
    est.tick();
  }
  assert.deepEqual(weightsOf(est.current()), { [A]: 100, [B]: 100, [S]: 33 });
});

test("too little data keeps the neutral weight: under 20 calls, or under 3 reports", () => {
  const { est, clock } = setup();
  assert.equal(run(est, clock, 10, { [A]: { ok: 100, inProgress: 1 }, [S]: { ok: 1, inProgress: 5 } }), null, "S: 1 call a window, decayed sum < 20");
  const fresh = setup();
  // Two windows (decayed report count 1.85) say S is slow; not enough yet.
  assert.equal(run(fresh.est, fresh.clock, 2, STEADY), null);
  assert.deepEqual(weightsOf(run(fresh.est, fresh.clock, 2, STEADY)), { [A]: 100, [B]: 100, [S]: 50 });
});

test("a down-weighted endpoint whose data thins keeps its estimate, not the neutral weight", () => {
  const { est, clock } = setup();
  run(est, clock, 5, STEADY);
  assert.equal(run(est, clock, 20, { [A]: { ok: 100, inProgress: 1 }, [B]: { ok: 100, inProgress: 1 } }), null);
  assert.deepEqual(weightsOf(est.current()), { [A]: 100, [B]: 100, [S]: 50 });
});

test("errors count against an endpoint: failing fast does not win weight", () => {
  const cases: { name: string; s: Window; max: number; min: number }[] = [
    // Every call fails at once: no successes, the weight floor.
    { name: "all errors, nothing in flight", s: { err: 1000, inProgress: 0 }, max: 1, min: 1 },
    { name: "all errors, fast", s: { err: 1000, inProgress: 1 }, max: 1, min: 1 },
    // Half fail fast (W = 5 ms over all calls): each error costs the slowest W (10 ms): 5 + 1 x 10 = 15 ms per success.
    { name: "half errors, fast", s: { ok: 100, err: 100, inProgress: 1 }, max: 67, min: 66 },
    // A few errors barely matter.
    { name: "1% errors", s: { ok: 99, err: 1, inProgress: 1 }, max: 100, min: 99 },
  ];
  for (const c of cases) {
    const { est, clock } = setup();
    run(est, clock, 5, { [A]: { ok: 100, inProgress: 1 }, [B]: { ok: 100, inProgress: 1 }, [S]: c.s });
    const w = est.current().get(C)?.get(S) ?? 100;
    assert.ok(w >= c.min && w <= c.max, `${c.name}: weight ${w}, want ${c.min}..${c.max}`);
    assert.equal(est.current().get(C)?.get(A) ?? 100, 100, c.name);
  }
});

test("a hung endpoint (calls issued and in flight, none completing) drops to the floor", () => {
  const { est, clock } = setup();
  run(est, clock, 5, { [A]: { ok: 100, inProgress: 1 }, [B]: { ok: 100, inProgress: 1 }, [S]: { issued: 30, inProgress: 30 } });
  assert.equal(est.current().get(C)?.get(S), 1);
});

test("hysteresis: a move of 10% or less is not published; publications are at most once per interval", () => {
  const { est, clock } = setup();
  run(est, clock, 5, STEADY);
  // S gets a little slower: 21.5 ms -> weight 47 (50 -> 47 is 6%).
  assert.equal(run(est, clock, 30, { ...STEADY, [S]: { ok: 200, inProgress: 4.3 } }), null);
  assert.deepEqual(weightsOf(est.current()), { [A]: 100, [B]: 100, [S]: 50 });
  // Much slower: 40 ms. Published as soon as the smoothed estimate moved > 10% past 50, then held.
  const slower = weightsOf(run(est, clock, 30, { ...STEADY, [S]: { ok: 100, inProgress: 4 } }));
  assert.ok((slower[S] ?? 0) >= 25 && (slower[S] ?? 0) <= 28, JSON.stringify(slower));
});

test("publications are at most once per interval, however often the estimator ticks", () => {
  const { est, clock } = setup();
  assert.equal(run(est, clock, 3, STEADY), null);
  assert.notEqual(run(est, clock, 1, STEADY), null, "published on the 4th tick");
  // S is suddenly as fast as the others, with plenty of data; half an interval later: held.
  for (let i = 0; i < 30; i++) est.record({ cluster: C, endpoint: S, issued: 100, succeeded: 100, failed: 0, inProgress: 1, intervalMs: INTERVAL });
  clock.t += INTERVAL / 2;
  assert.equal(est.tick(), null);
  clock.t += INTERVAL / 2;
  assert.ok((est.tick()?.get(C)?.get(S) ?? 0) > 90);
});

test("endpoints no longer served: their reports are ignored; the others keep what was learned", () => {
  const { est, clock } = setup();
  run(est, clock, 5, STEADY);
  est.setEndpoints(new Map([[C, [A, S, "10.0.0.4:50051"]]]));
  assert.equal(est.record({ cluster: C, endpoint: B, issued: 1, succeeded: 1, failed: 0, inProgress: 0, intervalMs: 1000 }), false);
  assert.equal(est.record({ cluster: "outbound|1||other", endpoint: A, issued: 1, succeeded: 1, failed: 0, inProgress: 0, intervalMs: 1000 }), false);
  assert.equal(est.record({ cluster: C, endpoint: A, issued: 1, succeeded: 1, failed: 0, inProgress: 0, intervalMs: 1000 }), true);
  assert.deepEqual(weightsOf(est.current()), { [A]: 100, [S]: 50 }, "the new endpoint is neutral (absent)");
  est.setEndpoints(new Map());
  assert.deepEqual(est.current(), new Map());
});

test("LoadStatsRequest parsing: counts as uint64 strings; garbage is dropped with a reason, never thrown", () => {
  const good = parseLoadStatsRequest({
    node: { id: "client-1" },
    cluster_stats: [
      {
        cluster_name: C,
        load_report_interval: { seconds: "0", nanos: 200_000_000 },
        upstream_locality_stats: [
          {
            locality: { region: "", zone: "", sub_zone: A },
            total_issued_requests: "12",
            total_successful_requests: "10",
            total_error_requests: "1",
            total_requests_in_progress: "3",
          },
          { locality: { sub_zone: "" }, total_issued_requests: "1" },
          { locality: { sub_zone: B }, total_issued_requests: "-5" },
          { locality: { sub_zone: S }, total_successful_requests: "1e3" },
          "not a locality",
        ],
      },
      { cluster_name: C, load_report_interval: { seconds: "-1", nanos: 0 }, upstream_locality_stats: [] },
      { cluster_name: C },
      { upstream_locality_stats: [] },
      42,
    ],
  });
  assert.equal(good.nodeId, "client-1");
  assert.deepEqual(good.loads, [{ cluster: C, endpoint: A, issued: 12, succeeded: 10, failed: 1, inProgress: 3, intervalMs: 200 }]);
  assert.equal(good.problems.length, 8, good.problems.join("\n"));
  assert.ok(good.problems.some((p) => p.includes("issued is not a non-negative integer")));
  for (const raw of [null, 7, "x", [], { cluster_stats: "x" }, { cluster_stats: [null] }]) {
    const r = parseLoadStatsRequest(raw);
    assert.deepEqual(r.loads, []);
  }
});
