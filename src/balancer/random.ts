// RANDOM: each pick independent, weighted by endpoint weight. Equal weights are a single
// random index (O(1)); unequal weights a binary search over cumulative weights (O(log n)).
import { randomInt } from "../core/random.js";
import { allWeightsEqual, endpointResults, NO_HEALTHY_UPSTREAM, noHealthyUpstreamPicker } from "./results.js";
import type { LbEndpoint, Picker, PickResult, PolicyDeps, PolicyFactory } from "./types.js";

export function randomPolicy(deps: PolicyDeps): PolicyFactory {
  return (endpoints) => randomPicker(endpoints, deps);
}

function randomPicker(endpoints: readonly LbEndpoint[], deps: PolicyDeps): Picker {
  const n = endpoints.length;
  if (n === 0) return noHealthyUpstreamPicker;
  const results = endpointResults(endpoints);
  const random = deps.random;
  if (allWeightsEqual(endpoints)) {
    return { pick: (): PickResult => results[randomInt(random, n)] ?? NO_HEALTHY_UPSTREAM };
  }
  // cumulative[i] = weight of endpoints 0..i; a draw in [0, total) belongs to the first
  // endpoint whose cumulative weight exceeds it.
  const cumulative = new Float64Array(n);
  let total = 0;
  endpoints.forEach((e, i) => {
    total += e.weight;
    cumulative[i] = total;
  });
  return {
    pick(): PickResult {
      const x = random() * total;
      let lo = 0;
      let hi = n - 1;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((cumulative[mid] ?? 0) > x) hi = mid;
        else lo = mid + 1;
      }
      return results[lo] ?? NO_HEALTHY_UPSTREAM;
    },
  };
}
