// Outlier detection for one cluster (Istio's DestinationRule outlierDetection), with
// Envoy's semantics as in source/common/upstream/outlier_detection_impl.cc:
//
// - Each attempt's outcome is an HTTP code: the backend's grpc-status through Envoy's table
//   (httpStatusOfGrpc; no grpc-status counts as UNKNOWN, 500). 5xx count towards
//   consecutive5xxErrors, 502/503/504 also towards consecutiveGatewayErrors; any other code
//   resets both, a non-gateway 5xx resets the gateway count (putHttpResponseCode).
// - Local-origin failures (connect failure, reset, timeout): without
//   splitExternalLocalOriginErrors they count as 503 (connect failure, reset) or 504
//   (timeout), as Envoy's router reports them; with it they only count towards
//   consecutiveLocalOriginFailures, which any backend response resets (Envoy's
//   LocalOriginConnectSuccess), and 5xx/gateway only see backend responses.
// - A counter reaching its threshold ejects at once (0 = off), then is reset, whether the
//   ejection was allowed or not; attempts still in flight on an ejected host count but
//   eject nothing. Un-ejection resets all three counters.
// - maxEjectionPercent: eject only if afterwards ejected/all <= max%, except that one host
//   may always be ejected while none is; 0 ejects nothing. This is Envoy's behaviour up to
//   2023 ("will eject at least one host regardless of the value"; envoy#3263), which
//   envoy#27909 made opt-in (always_eject_one_host, envoy#34796) after Istio had set its
//   defaults around it: with Istio's default 10% and fewer than 10 endpoints nothing could
//   be ejected otherwise. gRPC (grpc-java#9489) kept it as well.
// - Ejection time = min(baseEjectionTime x multiplier, max), max = Envoy's
//   max_ejection_time default, 300 s (or baseEjectionTime if longer). The multiplier goes
//   up by one per ejection while multiplier x base < max + base, and down by one at each
//   interval for a host not ejected and readmitted at least an interval ago.
// - A timer every `interval` readmits hosts whose ejection time has passed (so readmission
//   happens on an interval tick, as in Envoy) and runs the latency rule.
// Not in Envoy: the optional latency rule (LatencyOutlierSettings), and no jitter on the
// ejection time (Envoy's max_ejection_time_jitter defaults to 0; Istio has no field).
import type { LatencyOutlierSettings, OutlierDetectionSettings } from "../config/types.js";
import type { Clock, TimerHandle } from "../core/clock.js";
import { tracer } from "../core/trace.js";
import { httpStatusOfGrpc } from "../core/status.js";
import { AttemptEnd, causeOf, type AttemptOutcome, type OutcomeObserver } from "../balancer/outcome.js";
import { LatencyHistogram } from "./latency-histogram.js";

const trace = tracer("outlier");

/** Envoy's max_ejection_time default; Istio has no field for it. */
export const MAX_EJECTION_TIME_MS = 300_000;

/** The latency rule compares this quantile of each endpoint's attempt latencies. */
const LATENCY_QUANTILE = 0.99;

export type EjectionReason = "consecutive-5xx" | "consecutive-gateway" | "consecutive-local-origin" | "latency";

/** What the detector acts on: the cluster's endpoints and their "ejected" exclusion. */
export interface EjectionTarget {
  /** Keys of the endpoints now in the cluster; maxEjectionPercent is a share of these. */
  endpointKeys(): readonly string[];
  setEjected(key: string, ejected: boolean, why: string): void;
}

export interface Ejection {
  readonly at: number;
  readonly forMs: number;
  readonly reason: EjectionReason;
}

interface HostState {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocalOrigin: number;
  /** Envoy's ejectTimeBackoff: the ejection time is base x this. */
  multiplier: number;
  timesEjected: number;
  /** null while the host takes traffic. */
  ejection: Ejection | null;
  lastReadmittedAt: number | null;
  /** This interval's attempt latencies; null when the latency rule is off. */
  readonly latency: LatencyHistogram | null;
}

export class OutlierDetector implements OutcomeObserver {
  /** Ejections made, by any rule (Envoy's ejections_enforced_total). */
  ejectionsTotal = 0;
  /** Ejections refused by maxEjectionPercent (Envoy's ejections_overflow). */
  ejectionsOverflow = 0;
  readonly ejectionsByReason: Record<EjectionReason, number> = {
    "consecutive-5xx": 0,
    "consecutive-gateway": 0,
    "consecutive-local-origin": 0,
    latency: 0,
  };
  private readonly hosts = new Map<string, HostState>();
  private active = 0;
  private timer: TimerHandle | undefined;
  private readonly maxEjectionTimeMs: number;

  /** Settings are validated and fully defaulted (src/config/). */
  constructor(
    private readonly settings: OutlierDetectionSettings,
    private readonly latencyRule: LatencyOutlierSettings | null,
    private readonly target: EjectionTarget,
    private readonly clock: Clock,
    private readonly name = "",
  ) {
    this.maxEjectionTimeMs = Math.max(MAX_EJECTION_TIME_MS, settings.baseEjectionTimeMs);
  }

  /** Starts the interval timer. */
  start(): void {
    if (this.timer !== undefined) return;
    this.timer = this.clock.setTimer(this.settings.intervalMs, () => this.onInterval());
  }

  stop(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Hosts ejected now (Envoy's ejections_active). */
  get activeEjections(): number {
    return this.active;
  }

  timesEjected(key: string): number {
    return this.hosts.get(key)?.timesEjected ?? 0;
  }

  ejection(key: string): Ejection | null {
    return this.hosts.get(key)?.ejection ?? null;
  }

  /** The multiplier the next ejection of this host starts from (before its own increment). */
  multiplier(key: string): number {
    return this.hosts.get(key)?.multiplier ?? 0;
  }

  /** Endpoints that left the cluster: their state goes (a returning endpoint starts afresh). */
  forget(keys: Iterable<string>): void {
    for (const key of keys) {
      const h = this.hosts.get(key);
      if (h === undefined) continue;
      if (h.ejection !== null) this.active--;
      this.hosts.delete(key);
    }
  }

  attemptEnded(outcome: AttemptOutcome): void {
    const { end, grpcStatus, durationMs } = outcome;
    // The client's cancel says nothing about the backend (Envoy reports no result for it).
    if (causeOf(end) === "client") return;
    const key = outcome.endpoint.key;
    const h = this.host(key);
    if (h.latency !== null && (end === AttemptEnd.RESPONSE || end === AttemptEnd.TIMEOUT)) h.latency.record(durationMs);
    const split = this.settings.splitExternalLocalOriginErrors;
    if (end === AttemptEnd.RESPONSE) {
      // The backend answered, so the connection worked: a local-origin success.
      if (split) h.consecutiveLocalOrigin = 0;
      this.httpResult(key, h, httpStatusOfGrpc(grpcStatus));
    } else if (split) {
      if (++h.consecutiveLocalOrigin === this.settings.consecutiveLocalOriginFailures) this.consecutiveError(key, h, "consecutive-local-origin");
    } else {
      this.httpResult(key, h, end === AttemptEnd.TIMEOUT ? 504 : 503);
    }
  }

  private httpResult(key: string, h: HostState, code: number): void {
    if (code < 500 || code > 599) {
      h.consecutive5xx = 0;
      h.consecutiveGateway = 0;
      return;
    }
    if (code >= 502 && code <= 504) {
      if (++h.consecutiveGateway === this.settings.consecutiveGatewayErrors) this.consecutiveError(key, h, "consecutive-gateway");
    } else {
      h.consecutiveGateway = 0;
    }
    if (++h.consecutive5xx === this.settings.consecutive5xxErrors) this.consecutiveError(key, h, "consecutive-5xx");
  }

  private consecutiveError(key: string, h: HostState, reason: EjectionReason): void {
    // An attempt that was in flight when its host was ejected: nothing more to do (Envoy).
    if (h.ejection !== null) return;
    this.eject(key, h, reason, `${reason} errors reached the threshold`);
    // Reset even when maxEjectionPercent refused: the next bout of errors tries again.
    if (reason === "consecutive-5xx") h.consecutive5xx = 0;
    else if (reason === "consecutive-gateway") h.consecutiveGateway = 0;
    else h.consecutiveLocalOrigin = 0;
  }

  private eject(key: string, h: HostState, reason: EjectionReason, why: string): void {
    const keys = this.target.endpointKeys();
    if (!keys.includes(key)) return; // left the cluster while its attempt was in flight
    const max = this.settings.maxEjectionPercent;
    if (!ejectionAllowed(this.active, keys.length, max)) {
      this.ejectionsOverflow++;
      trace("ejection refused by maxEjectionPercent", {
        cluster: this.name,
        endpoint: key,
        reason,
        ejected: this.active,
        endpoints: keys.length,
        maxEjectionPercent: max,
      });
      return;
    }
    const base = this.settings.baseEjectionTimeMs;
    if (h.multiplier * base < this.maxEjectionTimeMs + base) h.multiplier++;
    const forMs = Math.min(base * h.multiplier, this.maxEjectionTimeMs);
    h.ejection = { at: this.clock.now(), forMs, reason };
    h.timesEjected++;
    this.active++;
    this.ejectionsTotal++;
    this.ejectionsByReason[reason]++;
    trace("ejected", { cluster: this.name, endpoint: key, reason, forMs, timesEjected: h.timesEjected });
    this.target.setEjected(key, true, `outlier detection: ${why}; ejected for ${forMs} ms (ejection ${h.timesEjected})`);
  }

  private readmit(key: string, h: HostState, now: number): void {
    h.ejection = null;
    this.active--;
    h.consecutive5xx = 0;
    h.consecutiveGateway = 0;
    h.consecutiveLocalOrigin = 0;
    h.lastReadmittedAt = now;
    trace("readmitted", { cluster: this.name, endpoint: key });
    this.target.setEjected(key, false, "outlier detection: ejection time passed");
  }

  private onInterval(): void {
    this.timer = this.clock.setTimer(this.settings.intervalMs, () => this.onInterval());
    const now = this.clock.now();
    const current = new Set(this.target.endpointKeys());
    this.forget([...this.hosts.keys()].filter((k) => !current.has(k)));
    for (const [key, h] of this.hosts) {
      if (h.ejection !== null && now - h.ejection.at >= h.ejection.forMs) this.readmit(key, h, now);
    }
    if (this.latencyRule !== null) this.latencyEjections(this.latencyRule);
    for (const h of this.hosts.values()) {
      // Envoy: a host readmitted at least an interval ago, and not ejected since, decays.
      if (h.ejection === null && h.lastReadmittedAt !== null && now - h.lastReadmittedAt >= this.settings.intervalMs && h.multiplier > 0) {
        h.multiplier--;
      }
      h.latency?.reset();
    }
  }

  /**
   * Ejects the endpoints whose p99 over the interval exceeds factor x the median of the
   * other endpoints' p99s, counting only endpoints (not ejected) with at least minRequests
   * attempts; the worst first, as long as maxEjectionPercent allows.
   */
  private latencyEjections(rule: LatencyOutlierSettings): void {
    const measured: { key: string; h: HostState; p99: number }[] = [];
    for (const [key, h] of this.hosts) {
      if (h.ejection === null && h.latency !== null && h.latency.count >= rule.minRequests) {
        measured.push({ key, h, p99: h.latency.quantile(LATENCY_QUANTILE) });
      }
    }
    if (measured.length < 2) return;
    measured.sort((a, b) => a.p99 - b.p99);
    const sorted = measured.map((m) => m.p99);
    const outliers: { key: string; h: HostState; p99: number; median: number }[] = [];
    measured.forEach((m, i) => {
      const median = medianWithout(sorted, i);
      if (m.p99 > rule.factor * median) outliers.push({ ...m, median });
    });
    // measured is sorted by p99, so the worst outliers are last.
    for (const o of outliers.reverse()) {
      this.eject(o.key, o.h, "latency", `p99 ${o.p99.toFixed(3)} ms over ${rule.factor} x the others' median p99 ${o.median.toFixed(3)} ms`);
    }
  }

  private host(key: string): HostState {
    let h = this.hosts.get(key);
    if (h === undefined) {
      h = {
        consecutive5xx: 0,
        consecutiveGateway: 0,
        consecutiveLocalOrigin: 0,
        multiplier: 0,
        timesEjected: 0,
        ejection: null,
        lastReadmittedAt: null,
        latency: this.latencyRule === null ? null : new LatencyHistogram(),
      };
      this.hosts.set(key, h);
    }
    return h;
  }
}

/** The median of ascending `sorted` with the element at index `skip` left out (length >= 2). */
/**
 * Whether one more endpoint may be ejected when `ejected` of `endpoints` already are: only if
 * afterwards ejected/all <= maxEjectionPercent, except that one may always be ejected while
 * none is; 0 ejects nothing (see the top of this file for Envoy's history of that rule).
 */
export function ejectionAllowed(ejected: number, endpoints: number, maxEjectionPercent: number): boolean {
  return maxEjectionPercent > 0 && (ejected === 0 || (100 * (ejected + 1)) / endpoints <= maxEjectionPercent);
}

/** How many of `endpoints` can be ejected at once under maxEjectionPercent (ejectionAllowed, applied one by one). */
export function maxEjectedEndpoints(endpoints: number, maxEjectionPercent: number): number {
  let ejected = 0;
  while (ejected < endpoints && ejectionAllowed(ejected, endpoints, maxEjectionPercent)) ejected++;
  return ejected;
}

export function medianWithout(sorted: readonly number[], skip: number): number {
  const m = sorted.length - 1;
  const at = (k: number): number => sorted[k < skip ? k : k + 1]!;
  return m % 2 === 1 ? at((m - 1) / 2) : (at(m / 2 - 1) + at(m / 2)) / 2;
}
