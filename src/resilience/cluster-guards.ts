// What keeps failing endpoints out of one cluster's balancing, attached from outside the
// cluster, the same way by the proxy and the simulator: outlier detection (it subscribes to
// the cluster's outcome channel and ejects through the "ejected" exclusion) and, where
// spec.healthCheck covers the cluster's host, active health checks (through "unhealthy").
// The cluster knows neither: it only offers the outcome channel, its endpoint events and
// the exclusions.
import type { HealthCheckSettings, LatencyOutlierSettings, PingSettings } from "../config/types.js";
import type { Clock } from "../core/clock.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import type { HealthChecker } from "./health-checker.js";
import { OutlierDetector } from "./outlier-detector.js";

export interface GuardDeps {
  readonly clock: Clock;
  /** sluice's latency outlier rule (Proxy resource); applies only with outlierDetection. */
  readonly latencyOutlier: LatencyOutlierSettings | null;
  /** The proxy's pings to backends: they also watch the health-check connections. */
  readonly keepalive?: PingSettings;
}

/** Outlier detection on one cluster: its detector, subscribed to outcomes and endpoint removals. */
class OutlierAttachment {
  private readonly unsubscribe: () => void;
  private readonly onEndpoints = (_added: unknown, removed: readonly string[]): void => this.detector.forget(removed);

  constructor(
    private readonly cluster: ClusterRuntime,
    readonly detector: OutlierDetector,
  ) {
    this.unsubscribe = cluster.observe(detector);
    cluster.events.on("endpoints", this.onEndpoints);
  }

  /** Stops the detector; `readmit` takes back every endpoint it ejected (new settings from a reload). */
  detach(readmit: boolean): void {
    this.detector.stop();
    this.unsubscribe();
    this.cluster.events.off("endpoints", this.onEndpoints);
    if (!readmit) return;
    for (const e of this.cluster.endpointList()) this.cluster.setExcluded(e.key, "ejected", false, "outlierDetection changed by a reload");
  }
}

export class ClusterGuards {
  private outlier: OutlierAttachment | null = null;
  private health: HealthChecker | null = null;
  private started = false;

  /** Attaches outlier detection when the cluster's DestinationRule sets it. */
  constructor(
    private readonly cluster: ClusterRuntime,
    private readonly deps: GuardDeps,
  ) {
    this.outlier = this.attachOutlier();
  }

  private attachOutlier(): OutlierAttachment | null {
    const od = this.cluster.config.policy.outlierDetection;
    if (od === null) return null;
    const cluster = this.cluster;
    const target = {
      endpointKeys: (): string[] => cluster.endpointList().map((e) => e.key),
      setEjected: (key: string, ejected: boolean, why: string): void => cluster.setExcluded(key, "ejected", ejected, why),
    };
    return new OutlierAttachment(cluster, new OutlierDetector(od, this.deps.latencyOutlier, target, this.deps.clock, cluster.name));
  }

  /**
   * Adds active health checks, before the cluster starts so its first endpoint set arrives
   * already checked. The module (and grpc-js, which the checks speak) is loaded only then:
   * it costs ~15 MB of memory otherwise spent on nothing.
   */
  async checkHealth(settings: HealthCheckSettings): Promise<void> {
    const { HealthChecker } = await import("./health-checker.js");
    this.health = new HealthChecker(this.cluster, settings, { clock: this.deps.clock, ...(this.deps.keepalive && { keepalive: this.deps.keepalive }) });
  }

  /** Starts the detector's interval timer (with the cluster). */
  start(): void {
    this.started = true;
    this.outlier?.detector.start();
  }

  /** Resolves once every endpoint had its first health check (cluster warming); at once without checks. */
  async warm(): Promise<void> {
    await this.health?.warm();
  }

  /** A reload changed the cluster's outlierDetection: the old detector stops and readmits what it ejected. */
  outlierSettingsChanged(): void {
    this.outlier?.detach(true);
    this.outlier = this.attachOutlier();
    if (this.started) this.outlier?.detector.start();
  }

  get outlierDetector(): OutlierDetector | null {
    return this.outlier?.detector ?? null;
  }

  get healthChecker(): HealthChecker | null {
    return this.health;
  }

  /** Stops both; exclusions stay as they are (the cluster is retiring or stopping). */
  stop(): void {
    this.outlier?.detector.stop();
    this.health?.stop();
  }
}
