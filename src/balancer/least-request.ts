// LEAST_REQUEST with Envoy's semantics (and LEAST_CONN: the proxy's connection mode passes
// loadMetric "activeConnections", so the same code balances pinned connections).
//
// Equal weights: power of N choices. Sample `choiceCount` endpoints at random (with
// replacement, as Envoy) and take the least loaded; ties go to the first sampled. When
// choiceCount >= the number of endpoints, Envoy scans them all instead; ties in the scan
// are broken uniformly at random so they do not always favour one endpoint.
// By connections it always scans: Istio's LEAST_CONN (an alias of LEAST_REQUEST) sends each
// new connection to the backend with the fewest, and a pick per connection (not per RPC)
// makes O(n) cheap. Sampling would leave the spread to chance: with 3 pods, P2C misses the
// empty one 4/9 of the time.
//
// Unequal weights: weighted random choice over effective weights
// weight / (load + 1)^activeRequestBias (Envoy's active_request_bias, default 1.0). This
// is O(n) per pick: it reads every endpoint's live counter. Envoy gets O(log n) from an
// EDF schedule instead, at the price of weights that are only refreshed when a host is
// re-queued; with live counters here the O(n) scan is the honest version of the formula.
import { randomInt } from "../core/random.js";
import { allWeightsEqual, endpointResults, NO_HEALTHY_UPSTREAM, noHealthyUpstreamPicker } from "./results.js";
import type { LbEndpoint, Picker, PickResult, PolicyDeps, PolicyFactory } from "./types.js";

export interface LeastRequestOptions {
  /** Envoy's active_request_bias, >= 0; 0 ignores load (plain weighted random). */
  readonly activeRequestBias?: number;
}

export function leastRequestPolicy(deps: PolicyDeps, options: LeastRequestOptions = {}): PolicyFactory {
  const bias = options.activeRequestBias ?? 1;
  if (!(bias >= 0)) throw new RangeError(`activeRequestBias must be >= 0, got ${bias}`);
  if (!Number.isInteger(deps.choiceCount) || deps.choiceCount < 1) {
    throw new RangeError(`least request choiceCount must be an integer >= 1, got ${deps.choiceCount}`);
  }
  return (endpoints) => leastRequestPicker(endpoints, deps, bias);
}

function leastRequestPicker(endpoints: readonly LbEndpoint[], deps: PolicyDeps, bias: number): Picker {
  const n = endpoints.length;
  if (n === 0) return noHealthyUpstreamPicker;
  const results = endpointResults(endpoints);
  const only = results[0];
  if (n === 1 && only !== undefined) return { pick: () => only };
  const metric = deps.loadMetric;
  const random = deps.random;
  if (allWeightsEqual(endpoints)) {
    const choices = deps.choiceCount;
    if (choices >= n || metric === "activeConnections") {
      return {
        pick(): PickResult {
          let best = 0;
          let bestLoad = endpoints[0]?.load[metric] ?? Infinity;
          let ties = 1;
          for (let i = 1; i < n; i++) {
            const load = endpoints[i]?.load[metric] ?? Infinity;
            if (load < bestLoad) {
              best = i;
              bestLoad = load;
              ties = 1;
            } else if (load === bestLoad && random() * ++ties < 1) {
              // Reservoir sampling: each of the k tied endpoints ends up chosen with
              // probability 1/k, so idle endpoints share the picks evenly.
              best = i;
            }
          }
          return results[best] ?? NO_HEALTHY_UPSTREAM;
        },
      };
    }
    return {
      pick(): PickResult {
        let best = randomInt(random, n);
        let bestLoad = endpoints[best]?.load[metric] ?? Infinity;
        for (let c = 1; c < choices; c++) {
          const i = randomInt(random, n);
          const load = endpoints[i]?.load[metric] ?? Infinity;
          if (load < bestLoad) {
            best = i;
            bestLoad = load;
          }
        }
        return results[best] ?? NO_HEALTHY_UPSTREAM;
      },
    };
  }
  const weights = Float64Array.from(endpoints, (e) => e.weight);
  const counters = endpoints.map((e) => e.load);
  const effective = new Float64Array(n); // scratch, reused by every pick
  const byConnections = metric === "activeConnections";
  return {
    pick(): PickResult {
      let total = 0;
      for (let i = 0; i < n; i++) {
        const counter = counters[i];
        const load = counter === undefined ? 0 : byConnections ? counter.activeConnections : counter.activeRequests;
        const w = weights[i] ?? 0;
        const e = bias === 1 ? w / (load + 1) : bias === 0 ? w : w / Math.pow(load + 1, bias);
        effective[i] = e;
        total += e;
      }
      let target = random() * total;
      for (let i = 0; i < n - 1; i++) {
        target -= effective[i] ?? 0;
        if (target < 0) return results[i] ?? NO_HEALTHY_UPSTREAM;
      }
      // Rounding can leave a sliver past the last boundary: it belongs to the last endpoint.
      return results[n - 1] ?? NO_HEALTHY_UPSTREAM;
    },
  };
}
