// PEAK_EWMA: Linkerd's latency-aware balancer (tower's `PeakEwma` load with power of two
// choices). Each endpoint keeps an estimate of its round-trip time:
//   - a sample above the estimate replaces it at once (the "peak": a slow endpoint is
//     penalised on its first slow answer);
//   - a lower sample is averaged in with weight 1 - exp(-elapsed / decay), where elapsed is
//     the time since the estimate last changed, so recovery is gradual;
//   - reading the estimate decays it towards 0 the same way (tower updates it with a zero
//     sample on every load read), so an endpoint that has not answered for a while looks
//     cheap again and gets probed.
// A new endpoint starts at `defaultRtt`. The cost of an endpoint is
// estimate * (requests in flight + 1); a pick samples two distinct endpoints at random and
// takes the cheaper. Defaults are Linkerd's (linkerd2-proxy EWMA_DEFAULT_RTT = 30ms,
// EWMA_DECAY = 10s). Weights are ignored, as in Linkerd.
//
// Not in Linkerd: a call that fails on the server's side (UNAVAILABLE, INTERNAL, ...) counts
// as at least twice the endpoint's estimate, so a backend that fails fast is not taken for
// the fastest (tower feeds it its short latency and sends it more and more).
//
// Estimates live in the policy, not the picker: pickers are rebuilt whenever the usable
// endpoint set changes, and what was learned about the remaining endpoints must survive.
import { randomInt } from "../core/random.js";
import { httpStatusOfGrpc } from "../core/status.js";
import { endpointResults, NO_HEALTHY_UPSTREAM, noHealthyUpstreamPicker } from "./results.js";
import { AttemptEnd, causeOf, type AttemptOutcome, type OutcomeObserver } from "./outcome.js";
import type { LbEndpoint, Picker, PickResult, PolicyDeps, PolicyFactory } from "./types.js";

export const DEFAULT_PEAK_EWMA_DECAY_MS = 10_000;
export const DEFAULT_PEAK_EWMA_RTT_MS = 30;
/** A server-side failure (a 5xx through Envoy's grpc-status table) counts as this times the estimate. */
const FAILURE_PENALTY = 2;

export interface PeakEwmaOptions {
  /** The decay time constant, > 0 ms. */
  readonly decayMs?: number;
  /** The estimate a new endpoint starts with, > 0 ms. */
  readonly defaultRttMs?: number;
}

/** One endpoint's latency estimate; mutable, owned by the policy. */
export class RttEstimate {
  constructor(
    private rttMs: number,
    private updatedAt: number,
    private readonly decayMs: number,
  ) {}

  /** Folds in a sample taken at `now` and returns the new estimate. */
  update(now: number, sampleMs: number): number {
    if (sampleMs > this.rttMs) {
      this.rttMs = sampleMs;
    } else {
      const elapsed = Math.max(0, now - this.updatedAt);
      const keep = Math.exp(-elapsed / this.decayMs);
      this.rttMs = this.rttMs * keep + sampleMs * (1 - keep);
    }
    this.updatedAt = now;
    return this.rttMs;
  }

  /** The estimate at `now`, decayed towards 0 since the last change (tower's load read). */
  read(now: number): number {
    return this.update(now, 0);
  }
}

export function peakEwmaPolicy(deps: PolicyDeps, options: PeakEwmaOptions = {}): PolicyFactory {
  const decayMs = options.decayMs ?? DEFAULT_PEAK_EWMA_DECAY_MS;
  const defaultRttMs = options.defaultRttMs ?? DEFAULT_PEAK_EWMA_RTT_MS;
  if (!(decayMs > 0 && Number.isFinite(decayMs))) throw new RangeError(`peak EWMA decay must be > 0 ms, got ${decayMs}`);
  if (!(defaultRttMs > 0 && Number.isFinite(defaultRttMs))) {
    throw new RangeError(`peak EWMA default RTT must be > 0 ms, got ${defaultRttMs}`);
  }
  const clock = deps.clock;
  if (clock === undefined) throw new TypeError("peak EWMA needs a clock in PolicyDeps (deps.clock)");
  const random = deps.random;
  const estimates = new Map<string, RttEstimate>();

  const build = (endpoints: readonly LbEndpoint[]): Picker => {
    // An endpoint that left the usable set and comes back starts over from the default,
    // as a newly discovered endpoint does in tower; this also bounds the map.
    const present = new Set(endpoints.map((e) => e.key));
    for (const key of estimates.keys()) if (!present.has(key)) estimates.delete(key);
    const n = endpoints.length;
    if (n === 0) return noHealthyUpstreamPicker;
    const now = clock.now();
    const own = endpoints.map((e) => {
      let estimate = estimates.get(e.key);
      if (estimate === undefined) {
        estimate = new RttEstimate(defaultRttMs, now, decayMs);
        estimates.set(e.key, estimate);
      }
      return estimate;
    });
    const results = endpointResults(endpoints);
    const only = results[0];
    if (n === 1 && only !== undefined) return { pick: () => only };
    const cost = (i: number, at: number): number => (own[i]?.read(at) ?? Infinity) * ((endpoints[i]?.load.activeRequests ?? 0) + 1);
    return {
      pick(): PickResult {
        // Two distinct endpoints, uniformly: draw the second from the n - 1 others.
        const a = randomInt(random, n);
        let b = randomInt(random, n - 1);
        if (b >= a) b++;
        const at = clock.now();
        const best = cost(b, at) < cost(a, at) ? b : a;
        return results[best] ?? NO_HEALTHY_UPSTREAM;
      },
    };
  };

  const attemptEnded = (outcome: AttemptOutcome): void => {
    // The client's cancel says nothing of the endpoint's speed.
    if (causeOf(outcome.end) === "client") return;
    // Calls to endpoints no longer in the set are of no use to any future pick.
    const estimate = estimates.get(outcome.endpoint.key);
    if (estimate === undefined) return;
    const now = clock.now();
    let sample = outcome.durationMs;
    // A failure is no cheap answer: an endpoint failing fast (UNAVAILABLE in a millisecond)
    // would otherwise look like the fastest one and draw ever more calls (a black hole).
    // Each server-side failure at least doubles its estimate (never below defaultRtt).
    if (outcome.end !== AttemptEnd.RESPONSE || httpStatusOfGrpc(outcome.grpcStatus) >= 500)
      sample = Math.max(sample, FAILURE_PENALTY * Math.max(estimate.read(now), defaultRttMs));
    estimate.update(now, sample);
  };
  const outcomes: OutcomeObserver = { attemptEnded };
  return Object.assign(build, { outcomes });
}
