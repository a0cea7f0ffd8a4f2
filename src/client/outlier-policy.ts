// `sluice_outlier`: Istio/Envoy consecutive-error outlier detection as a grpc-js load
// balancing policy that wraps any child policy (grpc-js's own outlier_detection has only
// the success-rate and failure-percentage rules of gRFC A50, not consecutive errors).
//
//   { "sluice_outlier": { "consecutive5xxErrors": 5, "consecutiveGatewayErrors": 0,
//       "interval": "10s", "baseEjectionTime": "30s", "maxEjectionPercent": 10,
//       "childPolicy": [{ "round_robin": {} }] } }
//
// The rules are the proxy's: src/resilience/outlier-detector.ts decides, this file only
// feeds it each call's status and acts on its verdicts. How it plugs into grpc-js:
// - every subchannel the child creates is wrapped; an ejected one tells the child it is in
//   TRANSIENT_FAILURE (so round_robin, pick_first and sluice's own policies stop picking
//   it without knowing about ejection), and its real state again when readmitted;
// - the child's picker is wrapped: each pick hands grpc-js the subchannel beneath the
//   wrapper and records the call's final status against the picked address.
// Hosts are addresses (`ip:port`), as in Envoy; maxEjectionPercent is a share of the
// addresses the resolver gave.
import { connectivityState as ConnectivityState, experimental, type ChannelOptions } from "@grpc/grpc-js";
import type { OutlierDetectionSettings } from "../config/types.js";
import { DEFAULT_OUTLIER_DETECTION, INT32_MAX } from "../config/limits.js";
import { formatDuration } from "../config/duration.js";
import { systemClock, type Clock } from "../core/clock.js";
import { Status } from "../core/status.js";
import { tracer } from "../core/trace.js";
import { AttemptEnd } from "../balancer/outcome.js";
import { OutlierDetector, type EjectionTarget } from "../resilience/outlier-detector.js";
import { FieldReader } from "./config-fields.js";

export const SLUICE_OUTLIER_POLICY = "sluice_outlier";

const trace = tracer("sluice_outlier");

/**
 * Channel option carrying the Clock the policy's timer and ejection times run on (tests
 * pass a ManualClock). The prefix is grpc-js's for options that reach LB policies but are
 * kept out of subchannel arguments, so it does not split the subchannel pool.
 */
export const SLUICE_CLOCK_OPTION = `${experimental.SUBCHANNEL_ARGS_EXCLUDE_KEY_PREFIX}.sluice_clock`;

type Subchannel = experimental.SubchannelInterface;
type StateListener = experimental.ConnectivityStateListener;

const FIELDS = ["consecutive5xxErrors", "consecutiveGatewayErrors", "interval", "baseEjectionTime", "maxEjectionPercent", "childPolicy"] as const;

const HINTS: Readonly<Record<string, string>> = {
  consecutiveErrors: "deprecated in Istio: use consecutiveGatewayErrors",
  minHealthPercent: "not supported by sluice_outlier (panic mode is the proxy's)",
  splitExternalLocalOriginErrors: "not supported by sluice_outlier: the client cannot tell local-origin errors apart",
  consecutiveLocalOriginFailures: "not supported by sluice_outlier: the client cannot tell local-origin errors apart",
  successRateEjection: "that is grpc-js's outlier_detection policy; sluice_outlier counts consecutive errors",
  failurePercentageEjection: "that is grpc-js's outlier_detection policy; sluice_outlier counts consecutive errors",
  maxEjectionTime: "not supported: sluice uses Envoy's default, 300s",
};

export class SluiceOutlierConfig implements experimental.TypedLoadBalancingConfig {
  /** Validated and fully defaulted (createFromJson); the rest of the policy relies on it. */
  constructor(
    readonly settings: OutlierDetectionSettings,
    readonly child: experimental.TypedLoadBalancingConfig,
  ) {}

  getLoadBalancerName(): string {
    return SLUICE_OUTLIER_POLICY;
  }

  toJsonObject(): object {
    const s = this.settings;
    return {
      [SLUICE_OUTLIER_POLICY]: {
        consecutive5xxErrors: s.consecutive5xxErrors,
        consecutiveGatewayErrors: s.consecutiveGatewayErrors,
        interval: formatDuration(s.intervalMs),
        baseEjectionTime: formatDuration(s.baseEjectionTimeMs),
        maxEjectionPercent: s.maxEjectionPercent,
        childPolicy: [this.child.toJsonObject()],
      },
    };
  }

  /** Throws a ConfigError (INVALID_ARGUMENT) naming every bad field. */
  static createFromJson(json: unknown): SluiceOutlierConfig {
    const fields = new FieldReader(SLUICE_OUTLIER_POLICY, json, FIELDS, HINTS);
    const d = DEFAULT_OUTLIER_DETECTION;
    const settings: OutlierDetectionSettings = {
      consecutive5xxErrors: fields.integer("consecutive5xxErrors", 0, INT32_MAX, d.consecutive5xxErrors),
      consecutiveGatewayErrors: fields.integer("consecutiveGatewayErrors", 0, INT32_MAX, d.consecutiveGatewayErrors),
      intervalMs: fields.duration("interval", d.intervalMs),
      baseEjectionTimeMs: fields.duration("baseEjectionTime", d.baseEjectionTimeMs),
      maxEjectionPercent: fields.integer("maxEjectionPercent", 0, 100, d.maxEjectionPercent),
      minHealthPercent: 0,
      splitExternalLocalOriginErrors: false,
      consecutiveLocalOriginFailures: d.consecutiveLocalOriginFailures,
    };
    const child = fields.childPolicy();
    if (child === undefined) return fields.fail(); // it recorded why
    fields.done();
    return new SluiceOutlierConfig(settings, child);
  }
}

/**
 * The child's view of a subchannel: the real one's state, except TRANSIENT_FAILURE while
 * its address is ejected.
 */
class EjectableSubchannel extends experimental.BaseSubchannelWrapper {
  private readonly listeners = new Set<StateListener>();
  private refs = 0;
  private readonly onRealState: StateListener = (_sub, previous, next, keepaliveTime, error) => {
    if (this.ejected) return; // the child already sees TRANSIENT_FAILURE
    this.notify(previous, next, keepaliveTime, error);
  };

  constructor(
    private readonly real: Subchannel,
    readonly key: string,
    private ejected: boolean,
    /** Called with true when the child takes its first ref, false when it drops its last. */
    private readonly onReferenced: (w: EjectableSubchannel, referenced: boolean) => void,
  ) {
    super(real);
  }

  /** What grpc-js starts the call on: the parent's subchannel, not this wrapper. */
  unwrap(): Subchannel {
    return this.real;
  }

  get referenced(): boolean {
    return this.refs > 0;
  }

  setEjected(ejected: boolean, why: string): void {
    if (ejected === this.ejected) return;
    this.ejected = ejected;
    const real = this.real.getConnectivityState();
    if (real === ConnectivityState.TRANSIENT_FAILURE) return; // no change for the child
    if (ejected) this.notify(real, ConnectivityState.TRANSIENT_FAILURE, -1, why);
    else this.notify(ConnectivityState.TRANSIENT_FAILURE, real, -1, undefined);
  }

  override getConnectivityState(): ConnectivityState {
    return this.ejected ? ConnectivityState.TRANSIENT_FAILURE : this.real.getConnectivityState();
  }

  override addConnectivityStateListener(listener: StateListener): void {
    if (this.listeners.size === 0) this.real.addConnectivityStateListener(this.onRealState);
    this.listeners.add(listener);
  }

  override removeConnectivityStateListener(listener: StateListener): void {
    if (!this.listeners.delete(listener)) return;
    if (this.listeners.size === 0) this.real.removeConnectivityStateListener(this.onRealState);
  }

  override ref(): void {
    super.ref();
    if (this.refs++ === 0) this.onReferenced(this, true);
  }

  override unref(): void {
    super.unref();
    if (--this.refs === 0) this.onReferenced(this, false);
  }

  private notify(previous: ConnectivityState, next: ConnectivityState, keepaliveTime: number, error: string | undefined): void {
    for (const l of [...this.listeners]) l(this, previous, next, keepaliveTime, error);
  }
}

/**
 * How a call's final status counts, as Envoy's router and gRFC A50 would count it:
 * - CANCELLED is the caller's decision (or the server echoing one), not a verdict on the
 *   server: Envoy reports nothing to outlier detection when the downstream resets, so it
 *   neither counts as an error nor resets the counters. (A server that answers CANCELLED on
 *   its own, 499 in Envoy's table, would reset them; the client cannot tell the two apart
 *   and leaves both out.)
 * - DEADLINE_EXCEEDED counts, whether the server sent it or the client's own deadline
 *   fired: Envoy counts its own upstream timeout as a 504 (LocalOriginTimeout, folded into
 *   the 5xx and gateway counters when local-origin errors are not split), and a server that
 *   accepts connections but never answers is exactly what ejection is for. gRFC A50 counts
 *   every non-OK status too.
 * - Everything else goes through Envoy's gRPC -> HTTP table (UNAVAILABLE 503, so connection
 *   failures and resets, which grpc-js reports as UNAVAILABLE, count like Envoy's
 *   local-origin 503s; INTERNAL 500; NOT_FOUND 404 resets the counters; ...).
 */
export function countsAgainstServer(code: number): boolean {
  return code !== Status.CANCELLED;
}

/** Wraps the child's picker: unwraps the subchannel and records each call's end. */
class RecordingPicker implements experimental.Picker {
  constructor(
    private readonly child: experimental.Picker,
    private readonly record: (key: string, code: number) => void,
  ) {}

  pick(args: experimental.PickArgs): experimental.PickResult {
    const result = this.child.pick(args);
    const sub = result.subchannel;
    if (result.pickResultType !== experimental.PickResultType.COMPLETE || !(sub instanceof EjectableSubchannel)) return result;
    const childEnded = result.onCallEnded;
    return {
      ...result,
      subchannel: sub.unwrap(),
      onCallEnded: (code, details, metadata) => {
        this.record(sub.key, code);
        childEnded?.(code, details, metadata);
      },
    };
  }
}

function isClock(v: unknown): v is Clock {
  return typeof v === "object" && v !== null && typeof (v as Clock).now === "function" && typeof (v as Clock).setTimer === "function";
}

class SluiceOutlierBalancer implements experimental.LoadBalancer, EjectionTarget {
  private readonly child: experimental.ChildLoadBalancerHandler;
  private detector: OutlierDetector | null = null;
  private detectorSettings = "";
  private keys: readonly string[] = [];
  private readonly ejected = new Set<string>();
  private readonly wrappers = new Map<string, Set<EjectableSubchannel>>();
  private destroyed = false;

  constructor(private readonly helper: experimental.ChannelControlHelper) {
    this.child = new experimental.ChildLoadBalancerHandler(
      experimental.createChildChannelControlHelper(helper, {
        createSubchannel: (address, args) => this.createSubchannel(address, args),
        updateState: (state, picker, error) => {
          if (this.destroyed) return;
          this.helper.updateState(state, new RecordingPicker(picker, (key, code) => this.callEnded(key, code)), error);
        },
      }),
    );
  }

  updateAddressList(
    endpoints: experimental.StatusOr<experimental.Endpoint[]>,
    config: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(config instanceof SluiceOutlierConfig)) return false;
    const clockOption: unknown = options[SLUICE_CLOCK_OPTION];
    const clock = isClock(clockOption) ? clockOption : systemClock;
    const settingsKey = JSON.stringify(config.settings);
    if (this.detector === null || settingsKey !== this.detectorSettings) {
      // New rules start afresh: whoever the old ones ejected is readmitted.
      this.detector?.stop();
      for (const key of [...this.ejected]) this.setEjected(key, false, "sluice_outlier config changed");
      this.detector = new OutlierDetector(config.settings, null, this, clock, SLUICE_OUTLIER_POLICY);
      this.detectorSettings = settingsKey;
      this.detector.start();
    }
    if (endpoints.ok) {
      const keys = new Set(endpoints.value.flatMap((e) => e.addresses.map((a) => experimental.subchannelAddressToString(a))));
      const gone = this.keys.filter((k) => !keys.has(k));
      this.detector.forget(gone);
      for (const k of gone) this.ejected.delete(k);
      this.keys = [...keys];
    }
    this.pruneUnreferenced();
    return this.child.updateAddressList(endpoints, config.child, options, resolutionNote);
  }

  exitIdle(): void {
    this.child.exitIdle();
  }

  resetBackoff(): void {
    this.child.resetBackoff();
  }

  destroy(): void {
    this.destroyed = true;
    this.detector?.stop();
    this.detector = null;
    this.child.destroy();
    this.wrappers.clear();
  }

  getTypeName(): string {
    return SLUICE_OUTLIER_POLICY;
  }

  // EjectionTarget: the detector's view of this channel's endpoints.
  endpointKeys(): readonly string[] {
    return this.keys;
  }

  setEjected(key: string, ejected: boolean, why: string): void {
    if (ejected) this.ejected.add(key);
    else this.ejected.delete(key);
    trace(ejected ? "ejected" : "readmitted", { endpoint: key, why });
    for (const w of this.wrappers.get(key) ?? []) w.setEjected(ejected, why);
  }

  private createSubchannel(address: experimental.SubchannelAddress, args: ChannelOptions): Subchannel {
    const key = experimental.subchannelAddressToString(address);
    const w = new EjectableSubchannel(this.helper.createSubchannel(address, args), key, this.ejected.has(key), (sub, referenced) => {
      if (referenced) this.trackWrapper(sub);
      else this.forgetWrapper(sub);
    });
    this.trackWrapper(w);
    return w;
  }

  private trackWrapper(w: EjectableSubchannel): void {
    let set = this.wrappers.get(w.key);
    if (set === undefined) this.wrappers.set(w.key, (set = new Set()));
    if (!set.has(w)) {
      // It may have missed an ejection or readmission while untracked.
      w.setEjected(this.ejected.has(w.key), "outlier detection: address ejected");
      set.add(w);
    }
  }

  private forgetWrapper(w: EjectableSubchannel): void {
    const set = this.wrappers.get(w.key);
    set?.delete(w);
    if (set?.size === 0) this.wrappers.delete(w.key);
  }

  /**
   * Drops wrappers the child created but never referenced (pick_first creates a subchannel
   * per address and keeps only one when one is READY already); referenced ones leave when
   * their last ref goes.
   */
  private pruneUnreferenced(): void {
    for (const set of this.wrappers.values()) {
      for (const w of set) if (!w.referenced) this.forgetWrapper(w);
    }
  }

  private callEnded(key: string, code: number): void {
    if (this.destroyed || this.detector === null || !countsAgainstServer(code)) return;
    this.detector.attemptEnded({ endpoint: { key }, end: AttemptEnd.RESPONSE, grpcStatus: code, durationMs: 0 });
  }
}

let registered = false;

/** Registers `sluice_outlier` with grpc-js; idempotent. */
export function registerSluiceOutlier(): void {
  if (registered) return;
  experimental.registerLoadBalancerType(SLUICE_OUTLIER_POLICY, SluiceOutlierBalancer, SluiceOutlierConfig);
  registered = true;
}
