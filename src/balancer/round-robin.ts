// ROUND_ROBIN. Equal weights: a plain rotation that starts at a random offset, as grpc-js
// does, so that many proxies (or clients) built at once do not all hit endpoint 0 first.
// Unequal weights: smooth weighted round robin on an EDF schedule, as Envoy does, so the
// share of picks matches the weights and heavy endpoints are interleaved, not bursty.
import { randomInt } from "../core/random.js";
import { EdfScheduler } from "./edf-scheduler.js";
import { allWeightsEqual, endpointResults, NO_HEALTHY_UPSTREAM, noHealthyUpstreamPicker } from "./results.js";
import type { LbEndpoint, Picker, PickResult, PolicyDeps, PolicyFactory } from "./types.js";

export function roundRobinPolicy(deps: PolicyDeps): PolicyFactory {
  return (endpoints) => roundRobinPicker(endpoints, deps);
}

export function roundRobinPicker(endpoints: readonly LbEndpoint[], deps: PolicyDeps): Picker {
  if (endpoints.length === 0) return noHealthyUpstreamPicker;
  const results = endpointResults(endpoints);
  const n = results.length;
  if (allWeightsEqual(endpoints)) {
    let next = randomInt(deps.random, n);
    return {
      pick(): PickResult {
        const result = results[next] ?? NO_HEALTHY_UPSTREAM; // index is always in range
        next = next + 1 === n ? 0 : next + 1;
        return result;
      },
    };
  }
  const scheduler = new EdfScheduler(endpoints.map((e) => e.weight));
  // A random number of warm-up picks plays the part of the random start offset: without
  // it, every new picker would begin with the same (heaviest-first) sequence. Envoy seeds
  // its EDF schedulers the same way.
  for (let skip = randomInt(deps.random, n); skip > 0; skip--) scheduler.pick();
  return {
    pick: (): PickResult => results[scheduler.pick()] ?? NO_HEALTHY_UPSTREAM,
  };
}
