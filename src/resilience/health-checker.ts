// Active gRPC health checks for one cluster: a grpc.health.v1 session per endpoint, whose
// results take the endpoint out of balancing and back (ClusterRuntime exclusion "unhealthy").
//
// Semantics are Envoy's HealthCheck (envoy source/common/upstream/health_checker_base_impl.cc,
// upstream_impl.cc and health_checker_impl.cc's GrpcActiveHealthCheckSession), so an Envoy
// user's settings mean the same here:
// - An endpoint starts unhealthy: Envoy sets FAILED_ACTIVE_HC on every host of a cluster that
//   has a health checker ("If we are depending on a health checker, we initialize to
//   unhealthy"), and its first check result decides at once: one SERVING answer makes it
//   healthy whatever healthyThreshold says (Envoy's first_check_, "makes startup faster").
//   The proxy, like Envoy's cluster warming, listens only after every endpoint's first
//   result (each is bounded by the timeout). An endpoint added later gets no RPCs until its
//   first check passes. (Envoy's ignore_new_hosts_until_first_hc only keeps such hosts out
//   of the panic calculation; sluice has no such option: they count, as by default.)
// - A check fails "actively" when the backend answers anything but SERVING: NOT_SERVING,
//   UNKNOWN, SERVICE_UNKNOWN, or a non-OK status such as UNIMPLEMENTED (no Health service)
//   or NOT_FOUND (unknown serviceName). Envoy takes such a host out at once, without
//   waiting for unhealthyThreshold, and so does sluice.
// - A check fails on the network when no answer came: the timeout passed, or the call
//   ended UNAVAILABLE (connection refused, reset, GOAWAY). unhealthyThreshold consecutive
//   network failures take a healthy endpoint out; any success resets the count.
// - An unhealthy endpoint returns after healthyThreshold consecutive SERVING answers.
// - The next check starts `interval` after the previous one ended (Envoy's interval timer is
//   armed when a check completes), so checks of one endpoint never overlap.
//
// Beyond Envoy (which only polls Check): Watch, where the backend implements it. The first
// message is the first check (within the timeout); every later message is a result at once,
// without waiting for a poll. While the stream stays open, a Check still goes out every
// interval within the timeout, as Envoy's poll: a hung backend keeps a Watch stream open
// silently but does not answer the Check, and a quiet stream's answers count towards
// healthyThreshold. A Watch answered UNIMPLEMENTED switches that endpoint to polling Check
// for good. A stream that ends or fails is a network failure, and Watch is retried after
// the interval.
import type { UpstreamTlsContext } from "../transport/tls/client-tls.js";
import { EventEmitter } from "node:events";
import * as grpc from "@grpc/grpc-js";
import type { LbEndpoint } from "../balancer/types.js";
import type { HealthCheckSettings, PingSettings } from "../config/types.js";
import type { Clock, TimerHandle } from "../core/clock.js";
import { logger, tracer } from "../core/trace.js";
import type { Exclusion } from "../upstream/cluster.js";
import { HealthProbe, type Cancel, type CheckEnd, type ServingStatus } from "./health-probe.js";

const trace = tracer("health");

/** What the checker needs of a cluster (ClusterRuntime has it). */
export interface CheckedCluster {
  readonly name: string;
  /** "endpoints" (added LbEndpoint[], removed keys) as ClusterRuntime emits it. */
  readonly events: EventEmitter;
  endpointList(): readonly LbEndpoint[];
  setExcluded(key: string, exclusion: Exclusion, excluded: boolean, why: string): void;
  /** TLS to an endpoint, as its RPCs have it; absent (or undefined): plaintext. */
  tlsContext?(endpoint: LbEndpoint): UpstreamTlsContext | undefined;
}

/** One check's result. `network`: no answer came (counted against unhealthyThreshold). */
export type CheckOutcome = { readonly ok: true; readonly why: string } | { readonly ok: false; readonly network: boolean; readonly why: string };

/**
 * An endpoint's health: "pending" before its first result (out of balancing, as Envoy's
 * FAILED_ACTIVE_HC at creation), then "healthy" or "unhealthy".
 */
export type HealthState = "pending" | "healthy" | "unhealthy";

export interface HealthCheckerDeps {
  readonly clock: Clock;
  /** The proxy's pings to backends: they also watch the health connection (a hung backend). */
  readonly keepalive?: PingSettings;
  /** TLS to the endpoint (set per endpoint from its cluster); absent: plaintext. */
  readonly tls?: UpstreamTlsContext | undefined;
}

/**
 * Checks every endpoint of one cluster. Emits "result" (endpoint key, CheckOutcome,
 * HealthState after it) for every check, so tests and stats can follow each one.
 */
export class HealthChecker {
  readonly events = new EventEmitter();
  private readonly sessions = new Map<string, EndpointHealth>();
  private readonly onEndpoints = (added: readonly LbEndpoint[], removed: readonly string[]): void => this.update(added, removed);
  private stopped = false;

  constructor(
    readonly cluster: CheckedCluster,
    readonly settings: HealthCheckSettings,
    private readonly deps: HealthCheckerDeps,
  ) {
    cluster.events.on("endpoints", this.onEndpoints);
    this.update(cluster.endpointList(), []);
  }

  /** Resolves once every endpoint in the cluster now has had its first result (cluster warming). */
  async warm(): Promise<void> {
    await Promise.all([...this.sessions.values()].map((s) => s.firstResult));
  }

  /** An endpoint's health (undefined when it is not in the cluster). */
  state(key: string): HealthState | undefined {
    return this.sessions.get(key)?.state;
  }

  /** Stops every session and closes their channels; exclusions stay as they are. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cluster.events.off("endpoints", this.onEndpoints);
    for (const s of this.sessions.values()) s.stop();
    this.sessions.clear();
  }

  private update(added: readonly LbEndpoint[], removed: readonly string[]): void {
    if (this.stopped) return;
    for (const key of removed) {
      // The endpoint left the cluster: its health connection closes with it.
      this.sessions.get(key)?.stop();
      this.sessions.delete(key);
    }
    for (const e of added) {
      if (this.sessions.has(e.key)) continue;
      // The cluster's TLS to this endpoint, as its RPCs have it (Envoy's health checks use the cluster's transport socket).
      const tls = this.cluster.tlsContext?.(e);
      const session = new EndpointHealth(this.cluster.name, e.key, this.settings, { ...this.deps, tls }, (outcome, state, changed) => {
        if (changed) this.cluster.setExcluded(e.key, "unhealthy", state !== "healthy", outcome.why);
        this.events.emit("result", e.key, outcome, state);
      });
      this.sessions.set(e.key, session);
      // Out of balancing until the first check passes (set before the new picker is built).
      this.cluster.setExcluded(e.key, "unhealthy", true, "not health checked yet");
      session.start();
    }
  }
}

/** Where an endpoint's probing is: one of these at a time. */
type Phase =
  | { readonly t: "waiting"; readonly timer: TimerHandle }
  | { readonly t: "checking"; readonly cancel: Cancel; readonly timeout: TimerHandle }
  | { readonly t: "watch-opening"; readonly cancel: Cancel; readonly timeout: TimerHandle }
  | { readonly t: "watching"; readonly cancel: Cancel; readonly status: ServingStatus; readonly tick: TimerHandle }
  | { readonly t: "stopped" };

/** `changed`: the endpoint entered or left "healthy", so its exclusion changes. */
type Report = (outcome: CheckOutcome, state: HealthState, changed: boolean) => void;

/** The health check session of one endpoint: its probe, its counters and its state. */
class EndpointHealth {
  state: HealthState = "pending";
  /** Consecutive successes while unhealthy; consecutive network failures while healthy. */
  private successes = 0;
  private failures = 0;
  /** Watch until the backend says it has none (UNIMPLEMENTED); then Check for good. */
  private mode: "watch" | "check" = "watch";
  /** A backend without the Health service is a config mistake: said once, not every interval. */
  private warnedUnimplemented = false;
  private phase: Phase = { t: "stopped" };
  private readonly probe: HealthProbe;
  readonly firstResult: Promise<void>;
  private resolveFirst: () => void = () => undefined;

  constructor(
    readonly cluster: string,
    readonly key: string,
    private readonly settings: HealthCheckSettings,
    private readonly deps: HealthCheckerDeps,
    private readonly report: Report,
  ) {
    this.firstResult = new Promise((resolve) => (this.resolveFirst = resolve));
    const channelOptions: grpc.ChannelOptions = {
      // After a failed connect grpc-js fails calls at once until its backoff ends (up to
      // 120 s by default); no longer than one interval, so each check can try afresh.
      "grpc.initial_reconnect_backoff_ms": Math.min(1000, settings.intervalMs),
      "grpc.max_reconnect_backoff_ms": settings.intervalMs,
    };
    const ka = deps.keepalive;
    if (ka !== undefined && ka.timeMs !== null) {
      channelOptions["grpc.keepalive_time_ms"] = ka.timeMs;
      channelOptions["grpc.keepalive_timeout_ms"] = ka.timeoutMs;
    }
    this.probe = new HealthProbe(key, { serviceName: settings.serviceName, channelOptions, tls: deps.tls });
  }

  start(): void {
    // Envoy checks a new host at once (no initial_jitter by default).
    this.probeNow();
  }

  stop(): void {
    this.leavePhase();
    this.phase = { t: "stopped" };
    this.probe.close();
    // A removed endpoint's warming is over: nothing will be known about it.
    this.resolveFirst();
  }

  private probeNow(): void {
    if (this.mode === "watch") this.openWatch();
    else this.check();
  }

  private check(): void {
    const cancel = this.probe.check((end) => this.onCheckEnd(end));
    const timeout = this.deps.clock.setTimer(this.settings.timeoutMs, () => {
      cancel();
      this.finish({ ok: false, network: true, why: `Check timed out after ${this.settings.timeoutMs}ms` });
    });
    this.phase = { t: "checking", cancel, timeout };
  }

  private onCheckEnd(end: CheckEnd): void {
    if (this.phase.t !== "checking") return;
    this.phase.timeout.cancel();
    if (end.kind === "answer") this.finish(statusOutcome(end.status, "Check"));
    else {
      if (end.code === grpc.status.UNIMPLEMENTED && !this.warnedUnimplemented) {
        this.warnedUnimplemented = true;
        logger.warn(
          { cluster: this.cluster, endpoint: this.key, details: end.details },
          "endpoint does not serve grpc.health.v1.Health: it fails every health check",
        );
      }
      this.finish(errorOutcome(end.code, end.details, "Check"));
    }
  }

  private openWatch(): void {
    const cancel = this.probe.watch({
      onStatus: (status) => this.onWatchStatus(status),
      onEnd: (code, details) => this.onWatchEnd(code, details),
    });
    const timeout = this.deps.clock.setTimer(this.settings.timeoutMs, () => {
      cancel();
      this.finish({ ok: false, network: true, why: `Watch sent no status within ${this.settings.timeoutMs}ms` });
    });
    this.phase = { t: "watch-opening", cancel, timeout };
  }

  private onWatchStatus(status: ServingStatus): void {
    const p = this.phase;
    if (p.t !== "watch-opening" && p.t !== "watching") return;
    if (p.t === "watch-opening") p.timeout.cancel();
    else p.tick.cancel();
    const tick = this.heldStatusTimer();
    this.phase = { t: "watching", cancel: p.cancel, status, tick };
    this.record(statusOutcome(status, "Watch"));
  }

  /**
   * While a Watch stream is open, a Check goes out every interval as well (bounded by the
   * timeout), as Envoy would poll: a hung backend keeps its Watch stream silently open, but
   * does not answer the Check, so the timeouts count against unhealthyThreshold; and on a
   * quiet stream the answers count towards healthyThreshold.
   */
  private heldStatusTimer(): TimerHandle {
    let cancelPending: () => void = () => undefined;
    const wait = (): void => {
      const timer = this.deps.clock.setTimer(this.settings.intervalMs, probe);
      cancelPending = () => timer.cancel();
    };
    const next = (): void => {
      if (this.phase.t === "watching" && this.phase.tick === handle) wait();
    };
    const probe = (): void => {
      if (this.phase.t !== "watching" || this.phase.tick !== handle) return;
      const cancelCheck = this.probe.check((end) => {
        timeout.cancel();
        if (this.phase.t !== "watching" || this.phase.tick !== handle) return;
        this.record(end.kind === "answer" ? statusOutcome(end.status, "Check") : errorOutcome(end.code, end.details, "Check"));
        next();
      });
      const timeout = this.deps.clock.setTimer(this.settings.timeoutMs, () => {
        cancelCheck();
        if (this.phase.t !== "watching" || this.phase.tick !== handle) return;
        this.record({ ok: false, network: true, why: `Check (beside Watch) timed out after ${this.settings.timeoutMs}ms` });
        next();
      });
      cancelPending = () => {
        timeout.cancel();
        cancelCheck();
      };
    };
    const handle: TimerHandle = { cancel: () => cancelPending() };
    wait();
    return handle;
  }

  private onWatchEnd(code: grpc.status, details: string): void {
    const p = this.phase;
    if (p.t !== "watch-opening" && p.t !== "watching") return;
    if (p.t === "watch-opening") p.timeout.cancel();
    else p.tick.cancel();
    if (p.t === "watch-opening" && code === grpc.status.UNIMPLEMENTED) {
      // No Watch on this backend (grpc-go before 1.x, some proxies): poll Check instead.
      trace("Watch unimplemented: polling Check", { cluster: this.cluster, endpoint: this.key, details });
      this.mode = "check";
      this.check();
      return;
    }
    const outcome: CheckOutcome =
      code === grpc.status.OK ? { ok: false, network: true, why: "Watch stream ended by the server" } : errorOutcome(code, details, "Watch");
    this.finish(outcome);
  }

  /** A check is over: record it, then the next one after the interval. */
  private finish(outcome: CheckOutcome): void {
    if (this.phase.t === "stopped") return;
    const timer = this.deps.clock.setTimer(this.settings.intervalMs, () => {
      if (this.phase.t === "waiting") this.probeNow();
    });
    this.phase = { t: "waiting", timer };
    this.record(outcome);
  }

  /** Envoy's handleSuccess / setUnhealthy: the thresholds and the first-check rule. */
  private record(outcome: CheckOutcome): void {
    const before = this.state;
    if (outcome.ok) {
      this.failures = 0;
      if (before === "pending") this.state = "healthy";
      else if (before === "unhealthy" && ++this.successes >= this.settings.healthyThreshold) this.state = "healthy";
    } else {
      this.successes = 0;
      if (before === "pending") this.state = "unhealthy";
      else if (before === "healthy" && (!outcome.network || ++this.failures >= this.settings.unhealthyThreshold)) this.state = "unhealthy";
    }
    if (this.state !== before) {
      this.successes = 0;
      this.failures = 0;
      trace("endpoint health", { cluster: this.cluster, endpoint: this.key, from: before, to: this.state, why: outcome.why });
      if (before !== "pending") {
        if (this.state === "unhealthy")
          logger.warn({ cluster: this.cluster, endpoint: this.key, why: outcome.why }, "endpoint failed its health checks: no new RPCs go to it");
        else logger.info({ cluster: this.cluster, endpoint: this.key }, "endpoint passed its health checks: back in balancing");
      }
    }
    // "pending" is already out of balancing: only becoming or ceasing to be healthy changes that.
    this.report(outcome, this.state, (before === "healthy") !== (this.state === "healthy"));
    this.resolveFirst();
  }

  private leavePhase(): void {
    const p = this.phase;
    switch (p.t) {
      case "waiting":
        p.timer.cancel();
        break;
      case "checking":
      case "watch-opening":
        p.timeout.cancel();
        p.cancel();
        break;
      case "watching":
        p.tick.cancel();
        p.cancel();
        break;
      case "stopped":
        break;
    }
  }
}

function statusOutcome(status: ServingStatus, call: string): CheckOutcome {
  return status === "SERVING" ? { ok: true, why: `${call}: SERVING` } : { ok: false, network: false, why: `${call} answered ${status}` };
}

/** UNAVAILABLE is grpc-js's word for "no connection" (refused, reset, GOAWAY): a network failure. */
function errorOutcome(code: grpc.status, details: string, call: string): CheckOutcome {
  const name = grpc.status[code] ?? String(code);
  return { ok: false, network: code === grpc.status.UNAVAILABLE, why: `${call} failed: ${name} ${details}` };
}
