// Outlier detection rules in virtual time: a fake cluster, attempts reported by hand.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { LbEndpoint } from "../../src/balancer/types.js";
import { DEFAULT_OUTLIER_DETECTION } from "../../src/config/limits.js";
import type { LatencyOutlierSettings, OutlierDetectionSettings } from "../../src/config/types.js";
import { ManualClock } from "../../src/core/clock.js";
import { Status } from "../../src/core/status.js";
import { medianWithout, OutlierDetector, type EjectionTarget } from "../../src/resilience/outlier-detector.js";
import { AttemptEnd } from "../../src/balancer/outcome.js";

class FakeCluster implements EjectionTarget {
  readonly ejected = new Set<string>();
  readonly log: string[] = [];
  constructor(public keys: string[]) {}
  endpointKeys(): readonly string[] {
    return this.keys;
  }
  setEjected(key: string, ejected: boolean): void {
    if (ejected) this.ejected.add(key);
    else this.ejected.delete(key);
    this.log.push(`${ejected ? "eject" : "readmit"} ${key}`);
  }
}

interface Setup {
  readonly clock: ManualClock;
  readonly cluster: FakeCluster;
  readonly d: OutlierDetector;
  readonly keys: string[];
  /** Host i answers with this grpc-status, `times` times, each attempt taking `ms`. */
  respond(i: number, status: number, times?: number, ms?: number): void;
  /** Host i's attempt ends without a response, after `ms`. */
  fail(i: number, end: AttemptEnd, times?: number, ms?: number): void;
  isEjected(i: number): boolean;
}

/** maxEjectionPercent 100 unless said otherwise, so only the rule under test decides. */
function setup(settings: Partial<OutlierDetectionSettings> = {}, hosts = 3, latency: LatencyOutlierSettings | null = null): Setup {
  const clock = new ManualClock();
  const keys = Array.from({ length: hosts }, (_, i) => `10.0.0.${i + 1}:50051`);
  const endpoints: LbEndpoint[] = keys.map((key, i) => ({
    key,
    address: `10.0.0.${i + 1}`,
    port: 50051,
    weight: 1,
    labels: {},
    load: { activeRequests: 0, activeConnections: 0 },
  }));
  const cluster = new FakeCluster(keys);
  const d = new OutlierDetector({ ...DEFAULT_OUTLIER_DETECTION, maxEjectionPercent: 100, ...settings }, latency, cluster, clock, "test");
  d.start();
  return {
    clock,
    cluster,
    d,
    keys,
    respond(i, status, times = 1, ms = 1) {
      for (let n = 0; n < times; n++) d.attemptEnded({ endpoint: endpoints[i]!, end: AttemptEnd.RESPONSE, grpcStatus: status, durationMs: ms });
    },
    fail(i, end, times = 1, ms = 1) {
      for (let n = 0; n < times; n++) d.attemptEnded({ endpoint: endpoints[i]!, end, grpcStatus: -1, durationMs: ms });
    },
    isEjected: (i) => cluster.ejected.has(keys[i]!),
  };
}

describe("consecutive errors", () => {
  test("consecutive5xxErrors: statuses that map to 5xx count, and the threshold-th in a row ejects at once", () => {
    // Envoy's table: UNKNOWN, INTERNAL, DATA_LOSS 500; UNIMPLEMENTED 501; UNAVAILABLE 503;
    // DEADLINE_EXCEEDED 504; and no grpc-status at all counts as UNKNOWN.
    const fiveXx = [Status.UNKNOWN, Status.INTERNAL, Status.DATA_LOSS, Status.UNIMPLEMENTED, Status.UNAVAILABLE, Status.DEADLINE_EXCEEDED, -1];
    for (const status of fiveXx) {
      const s = setup({ consecutive5xxErrors: 3 });
      s.respond(0, status, 2);
      assert.equal(s.isEjected(0), false, `status ${status}`);
      s.respond(0, status);
      assert.equal(s.isEjected(0), true, `status ${status}`);
      assert.equal(s.d.ejection(s.keys[0]!)?.reason, "consecutive-5xx");
    }
  });

  test("consecutive5xxErrors: a success or a 4xx-mapped status in between starts the count again", () => {
    const resets = [
      Status.OK,
      Status.CANCELLED,
      Status.INVALID_ARGUMENT,
      Status.NOT_FOUND,
      Status.PERMISSION_DENIED,
      Status.RESOURCE_EXHAUSTED,
      Status.UNAUTHENTICATED,
    ];
    for (const status of resets) {
      const s = setup({ consecutive5xxErrors: 3 });
      s.respond(0, Status.INTERNAL, 2);
      s.respond(0, status);
      s.respond(0, Status.INTERNAL, 2);
      assert.equal(s.isEjected(0), false, `status ${status}`);
      s.respond(0, Status.INTERNAL);
      assert.equal(s.isEjected(0), true, `status ${status}`);
    }
  });

  test("counts are per host", () => {
    const s = setup({ consecutive5xxErrors: 2 });
    s.respond(0, Status.INTERNAL);
    s.respond(1, Status.INTERNAL);
    s.respond(2, Status.INTERNAL);
    assert.deepEqual(s.cluster.log, []);
    s.respond(1, Status.INTERNAL);
    assert.deepEqual(s.cluster.log, [`eject ${s.keys[1]}`]);
  });

  test("threshold 0 is off", () => {
    const s = setup({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 0 });
    s.respond(0, Status.UNAVAILABLE, 50);
    s.fail(0, AttemptEnd.CONNECT_FAILURE, 50);
    assert.equal(s.isEjected(0), false);
  });

  test("consecutiveGatewayErrors counts 502/503/504 (UNAVAILABLE, DEADLINE_EXCEEDED); any other 5xx resets it", () => {
    const s = setup({ consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 });
    s.respond(0, Status.UNAVAILABLE, 2);
    s.respond(0, Status.INTERNAL);
    s.respond(0, Status.UNAVAILABLE, 2);
    assert.equal(s.isEjected(0), false);
    s.respond(0, Status.DEADLINE_EXCEEDED);
    assert.equal(s.isEjected(0), true);
    assert.equal(s.d.ejection(s.keys[0]!)?.reason, "consecutive-gateway");
    assert.equal(s.d.ejectionsByReason["consecutive-gateway"], 1);
  });

  test("without split, connect failures and resets count as 503 and timeouts as 504, for 5xx and gateway alike", () => {
    for (const [settings, reason] of [
      [{ consecutive5xxErrors: 3, consecutiveGatewayErrors: 0 }, "consecutive-5xx"],
      [{ consecutive5xxErrors: 0, consecutiveGatewayErrors: 3 }, "consecutive-gateway"],
    ] as const) {
      // consecutiveLocalOriginFailures only applies with split: 1 here must not eject.
      const s = setup({ ...settings, consecutiveLocalOriginFailures: 1 });
      s.fail(0, AttemptEnd.CONNECT_FAILURE);
      s.fail(0, AttemptEnd.RESET);
      assert.equal(s.isEjected(0), false);
      s.fail(0, AttemptEnd.TIMEOUT);
      assert.equal(s.d.ejection(s.keys[0]!)?.reason, reason);
      // A local-origin failure and a backend 5xx make one run.
      s.respond(1, Status.INTERNAL);
      s.fail(1, AttemptEnd.RESET);
      s.respond(1, Status.UNAVAILABLE);
      assert.equal(s.isEjected(1), settings.consecutive5xxErrors > 0, reason);
    }
  });

  test("with split, local-origin failures count only towards consecutiveLocalOriginFailures, which any response resets", () => {
    const s = setup({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 3, consecutive5xxErrors: 3, consecutiveGatewayErrors: 3 });
    s.fail(0, AttemptEnd.CONNECT_FAILURE, 2);
    s.respond(0, Status.UNAVAILABLE); // the backend answered: the connection works
    s.fail(0, AttemptEnd.RESET, 2);
    assert.equal(s.isEjected(0), false);
    s.fail(0, AttemptEnd.TIMEOUT);
    assert.equal(s.d.ejection(s.keys[0]!)?.reason, "consecutive-local-origin");
  });

  test("with split, 5xx and gateway counts see backend responses only: local-origin failures neither count nor reset them", () => {
    const s = setup({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailures: 0, consecutive5xxErrors: 3 });
    s.respond(0, Status.INTERNAL, 2);
    s.fail(0, AttemptEnd.CONNECT_FAILURE, 10);
    s.fail(0, AttemptEnd.TIMEOUT, 10);
    assert.equal(s.isEjected(0), false);
    s.respond(0, Status.INTERNAL);
    assert.equal(s.d.ejection(s.keys[0]!)?.reason, "consecutive-5xx");
  });

  test("attempts still in flight on an ejected host neither eject again nor extend the ejection", () => {
    const s = setup({ consecutive5xxErrors: 2 });
    s.respond(0, Status.INTERNAL, 2);
    const first = s.d.ejection(s.keys[0]!);
    s.clock.advance(5_000);
    s.respond(0, Status.INTERNAL, 10);
    assert.equal(s.d.ejection(s.keys[0]!), first);
    assert.equal(s.d.timesEjected(s.keys[0]!), 1);
    assert.equal(s.d.ejectionsTotal, 1);
  });

  test("readmission resets the counts: a host comes back with a clean slate", () => {
    const s = setup({ consecutive5xxErrors: 3 });
    s.respond(0, Status.INTERNAL, 3);
    s.respond(0, Status.INTERNAL, 2); // in flight while ejected
    s.clock.advance(30_000);
    assert.equal(s.isEjected(0), false);
    s.respond(0, Status.INTERNAL, 2);
    assert.equal(s.isEjected(0), false);
    s.respond(0, Status.INTERNAL);
    assert.equal(s.isEjected(0), true);
  });
});

describe("maxEjectionPercent", () => {
  test("a host is ejected only while the ejected share stays within the limit afterwards", () => {
    const s = setup({ consecutive5xxErrors: 1, maxEjectionPercent: 20 }, 10);
    for (let i = 0; i < 4; i++) s.respond(i, Status.INTERNAL);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => s.isEjected(i)),
      [true, true, false, false],
    );
    assert.equal(s.d.activeEjections, 2);
    assert.equal(s.d.ejectionsOverflow, 2);
  });

  test("one host may always be ejected while none is (Istio's default 10% of 3 hosts), but not a second", () => {
    const s = setup({ consecutive5xxErrors: 1, maxEjectionPercent: 10 }, 3);
    s.respond(0, Status.INTERNAL);
    s.respond(1, Status.INTERNAL);
    assert.deepEqual([s.isEjected(0), s.isEjected(1)], [true, false]);
    // Once the first is back, another may go.
    s.clock.advance(30_000);
    s.respond(1, Status.INTERNAL);
    assert.deepEqual([s.isEjected(0), s.isEjected(1)], [false, true]);
  });

  test("maxEjectionPercent 0 ejects nothing", () => {
    const s = setup({ consecutive5xxErrors: 1, maxEjectionPercent: 0 }, 3);
    s.respond(0, Status.INTERNAL, 5);
    assert.equal(s.isEjected(0), false);
    assert.equal(s.d.ejectionsOverflow, 5);
  });

  test("a refused ejection resets the count: the host needs a whole new run of errors", () => {
    const s = setup({ consecutive5xxErrors: 3, maxEjectionPercent: 10 }, 3);
    s.respond(0, Status.INTERNAL, 3);
    s.respond(1, Status.INTERNAL, 3); // refused
    s.clock.advance(30_000); // host 0 back
    s.respond(1, Status.INTERNAL, 2);
    assert.equal(s.isEjected(1), false);
    s.respond(1, Status.INTERNAL);
    assert.equal(s.isEjected(1), true);
  });

  test("an endpoint that leaves the cluster frees its share", () => {
    const s = setup({ consecutive5xxErrors: 1, maxEjectionPercent: 10 }, 3);
    s.respond(0, Status.INTERNAL);
    s.cluster.keys = s.keys.slice(1);
    s.d.forget([s.keys[0]!]);
    assert.equal(s.d.activeEjections, 0);
    s.respond(1, Status.INTERNAL);
    assert.equal(s.isEjected(1), true);
  });
});

describe("ejection time", () => {
  test("base x times ejected, readmitted on the first interval tick after it", () => {
    const s = setup({ consecutive5xxErrors: 1, intervalMs: 10_000, baseEjectionTimeMs: 30_000 });
    s.clock.advance(1_000);
    s.respond(0, Status.INTERNAL); // ejected at 1s for 30s: due at 31s, the tick is at 40s
    assert.equal(s.d.ejection(s.keys[0]!)?.forMs, 30_000);
    s.clock.advance(38_999);
    assert.equal(s.isEjected(0), true);
    s.clock.advance(1);
    assert.equal(s.isEjected(0), false);
    s.respond(0, Status.INTERNAL); // at once again: twice as long
    assert.equal(s.d.ejection(s.keys[0]!)?.forMs, 60_000);
    s.clock.advance(59_999);
    assert.equal(s.isEjected(0), true);
    s.clock.advance(1);
    assert.equal(s.isEjected(0), false);
    assert.equal(s.d.timesEjected(s.keys[0]!), 2);
    assert.deepEqual(s.cluster.log, [`eject ${s.keys[0]}`, `readmit ${s.keys[0]}`, `eject ${s.keys[0]}`, `readmit ${s.keys[0]}`]);
  });

  test("capped at 300s (Envoy's max_ejection_time); the multiplier stops one step past the cap", () => {
    const s = setup({ consecutive5xxErrors: 1, intervalMs: 1_000, baseEjectionTimeMs: 100_000 });
    const times: number[] = [];
    for (let n = 0; n < 6; n++) {
      s.respond(0, Status.INTERNAL);
      const e = s.d.ejection(s.keys[0]!)!;
      times.push(e.forMs);
      s.clock.advance(e.forMs);
      assert.equal(s.isEjected(0), false);
    }
    assert.deepEqual(times, [100_000, 200_000, 300_000, 300_000, 300_000, 300_000]);
    assert.equal(s.d.multiplier(s.keys[0]!), 4);
    assert.equal(s.d.timesEjected(s.keys[0]!), 6);
  });

  test("the multiplier decays by one per interval once the host has been back for an interval", () => {
    const s = setup({ consecutive5xxErrors: 1, intervalMs: 10_000, baseEjectionTimeMs: 10_000 });
    for (let n = 1; n <= 3; n++) {
      s.respond(0, Status.INTERNAL);
      s.clock.advance(n * 10_000);
      assert.equal(s.isEjected(0), false);
    }
    assert.equal(s.d.multiplier(s.keys[0]!), 3);
    s.clock.advance(10_000);
    assert.equal(s.d.multiplier(s.keys[0]!), 2);
    s.clock.advance(10_000);
    assert.equal(s.d.multiplier(s.keys[0]!), 1);
    s.respond(0, Status.INTERNAL); // ejected for base x 2, not x 4
    assert.equal(s.d.ejection(s.keys[0]!)?.forMs, 20_000);
    s.clock.advance(20_000);
    for (let n = 0; n < 5; n++) s.clock.advance(10_000);
    assert.equal(s.d.multiplier(s.keys[0]!), 0);
    s.respond(0, Status.INTERNAL);
    assert.equal(s.d.ejection(s.keys[0]!)?.forMs, 10_000);
  });

  test("stop() cancels the interval timer", () => {
    const s = setup();
    assert.equal(s.clock.pendingTimers(), 1);
    s.d.stop();
    assert.equal(s.clock.pendingTimers(), 0);
  });
});

describe("latency rule (beyond Envoy)", () => {
  const rule: LatencyOutlierSettings = { factor: 3, minRequests: 20 };
  const latencySetup = (settings: Partial<OutlierDetectionSettings> = {}, hosts = 4): Setup =>
    setup({ consecutive5xxErrors: 0, intervalMs: 10_000, ...settings }, hosts, rule);

  test("an endpoint whose p99 is over factor x the others' median p99 is ejected at the interval, like any ejection", () => {
    const s = latencySetup();
    for (let i = 0; i < 3; i++) s.respond(i, Status.OK, 100, 10 + i);
    s.respond(3, Status.OK, 100, 50);
    assert.equal(s.isEjected(3), false); // only at the interval
    s.clock.advance(10_000);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => s.isEjected(i)),
      [false, false, false, true],
    );
    const e = s.d.ejection(s.keys[3]!);
    assert.equal(e?.reason, "latency");
    assert.equal(e?.forMs, 30_000);
    assert.equal(s.d.ejectionsByReason.latency, 1);
  });

  test("p99, not the mean: 1% slow attempts are not an outlier, 2% are", () => {
    for (const [slow, ejected] of [
      [1, false],
      [2, true],
    ] as const) {
      const s = latencySetup();
      for (let i = 0; i < 3; i++) s.respond(i, Status.OK, 100, 10);
      s.respond(3, Status.OK, 100 - slow, 10);
      s.respond(3, Status.OK, slow, 1_000);
      s.clock.advance(10_000);
      assert.equal(s.isEjected(3), ejected, `${slow} slow`);
    }
  });

  test("within the factor, or with fewer than minRequests attempts, nothing is ejected", () => {
    const s = latencySetup();
    for (let i = 0; i < 3; i++) s.respond(i, Status.OK, 100, 10);
    s.respond(3, Status.OK, 100, 25);
    s.clock.advance(10_000);
    assert.equal(s.d.activeEjections, 0);
    for (let i = 0; i < 3; i++) s.respond(i, Status.OK, 100, 10);
    s.respond(3, Status.OK, 19, 500);
    s.clock.advance(10_000);
    assert.equal(s.d.activeEjections, 0);
  });

  test("each interval starts afresh: last interval's slow samples are gone", () => {
    const s = latencySetup({ maxEjectionPercent: 0 });
    for (let i = 0; i < 3; i++) s.respond(i, Status.OK, 100, 10);
    s.respond(3, Status.OK, 100, 50);
    s.clock.advance(10_000); // refused by maxEjectionPercent 0
    assert.equal(s.d.ejectionsOverflow, 1);
    for (let i = 0; i < 4; i++) s.respond(i, Status.OK, 100, 10);
    s.clock.advance(10_000);
    assert.equal(s.d.ejectionsOverflow, 1);
  });

  test("the worst outlier goes first when maxEjectionPercent allows only one", () => {
    const s = latencySetup({ maxEjectionPercent: 10 }, 6);
    for (let i = 0; i < 4; i++) s.respond(i, Status.OK, 50, 10);
    s.respond(4, Status.OK, 50, 100);
    s.respond(5, Status.OK, 50, 200);
    s.clock.advance(10_000);
    assert.deepEqual(
      [4, 5].map((i) => s.isEjected(i)),
      [false, true],
    );
    assert.equal(s.d.ejectionsOverflow, 1);
  });

  test("timeouts count as latency; connect failures and resets do not", () => {
    for (const [end, ejected] of [
      [AttemptEnd.TIMEOUT, true],
      [AttemptEnd.CONNECT_FAILURE, false],
      [AttemptEnd.RESET, false],
    ] as const) {
      const s = latencySetup();
      for (let i = 0; i < 3; i++) s.respond(i, Status.OK, 100, 10);
      s.fail(3, end, 100, 1_000);
      s.clock.advance(10_000);
      assert.equal(s.isEjected(3), ejected, `attempt end ${end}`);
    }
  });

  test("median of the others: the element left out changes the middle", () => {
    assert.equal(medianWithout([1, 2, 3, 100], 3), 2);
    assert.equal(medianWithout([1, 2, 3, 100], 0), 3);
    assert.equal(medianWithout([1, 2, 3, 4, 100], 4), 2.5);
    assert.equal(medianWithout([5, 7], 1), 5);
  });
});
