// Consistent hashing on a hash ring, after Envoy's ring_hash load balancer
// (Istio consistentHash.ringHash). Each endpoint owns ring entries in proportion to its
// weight, placed at hash(`${key}_${i}`); a request goes to the first entry at or after its
// own hash, wrapping around. Adding or removing an endpoint moves only the keys on the
// arcs it gains or loses, about 1/n of them. Build O(R log R), pick O(log R).
import type { HashKeySource } from "../config/types.js";
import { hash32 } from "./hash.js";
import { randomHash, requestHasher, type RequestHasher } from "./hash-key.js";
import { endpointResults, NO_HEALTHY_UPSTREAM, noHealthyUpstreamPicker, sortedByKey } from "./results.js";
import type { LbEndpoint, Picker, PickRequest, PickResult, PolicyDeps, PolicyFactory } from "./types.js";

/** Envoy's defaults: minimum_ring_size 1024, maximum_ring_size 8M. */
export const DEFAULT_MINIMUM_RING_SIZE = 1024;
export const MAXIMUM_RING_SIZE = 8 * 1024 * 1024;

export interface RingHashOptions {
  readonly key: HashKeySource;
  readonly minimumRingSize?: number;
  /** Caps the ring however uneven the weights; defaults to MAXIMUM_RING_SIZE. */
  readonly maximumRingSize?: number;
}

export function ringHashPolicy(deps: PolicyDeps, options: RingHashOptions): PolicyFactory {
  const minimum = options.minimumRingSize ?? DEFAULT_MINIMUM_RING_SIZE;
  const maximum = options.maximumRingSize ?? MAXIMUM_RING_SIZE;
  if (!Number.isInteger(maximum) || maximum < 1 || maximum > MAXIMUM_RING_SIZE) {
    throw new RangeError(`ring hash maximumRingSize must be an integer in 1..${MAXIMUM_RING_SIZE}, got ${maximum}`);
  }
  if (!Number.isInteger(minimum) || minimum < 1 || minimum > maximum) {
    throw new RangeError(`ring hash minimumRingSize must be an integer in 1..${maximum}, got ${minimum}`);
  }
  const hasher = requestHasher(options.key);
  return (endpoints) => {
    if (endpoints.length === 0) return noHealthyUpstreamPicker;
    return new RingHashPicker(buildRing(endpoints, minimum, maximum), hasher, deps.random);
  };
}

export interface Ring {
  /** Entry hashes, ascending. */
  readonly hashes: Uint32Array;
  /** owners[i] = index into `endpoints` of the endpoint owning entry i. */
  readonly owners: Uint32Array;
  readonly endpoints: readonly LbEndpoint[];
}

/** Envoy's construction (ring_hash_lb.cc), with weights normalized to sum 1. */
export function buildRing(input: readonly LbEndpoint[], minimumRingSize: number, maximumRingSize: number): Ring {
  // Sorted so the ring depends on the set of endpoints, not the order discovery gave them.
  const endpoints = sortedByKey(input);
  let totalWeight = 0;
  for (const e of endpoints) totalWeight += e.weight;
  let minNormalized = 1;
  for (const e of endpoints) minNormalized = Math.min(minNormalized, e.weight / totalWeight);
  // Scale so the lightest endpoint still gets ceil(minNormalized * minimumRingSize) >= 1
  // entries, bounded by the maximum ring size.
  const scale = Math.min(Math.ceil(minNormalized * minimumRingSize) / minNormalized, maximumRingSize);
  const hashes: number[] = [];
  const owners: number[] = [];
  let current = 0;
  let target = 0;
  endpoints.forEach((e, owner) => {
    target += scale * (e.weight / totalWeight);
    for (let i = 0; current < target; i++, current++) {
      hashes.push(hash32(`${e.key}_${i}`));
      owners.push(owner);
    }
  });
  const order = Uint32Array.from(hashes.keys());
  // Equal hashes are ordered by owner, i.e. by key: deterministic for a given set.
  order.sort((a, b) => (hashes[a] ?? 0) - (hashes[b] ?? 0) || (owners[a] ?? 0) - (owners[b] ?? 0));
  return {
    hashes: Uint32Array.from(order, (i) => hashes[i] ?? 0),
    owners: Uint32Array.from(order, (i) => owners[i] ?? 0),
    endpoints,
  };
}

class RingHashPicker implements Picker {
  private readonly results;

  constructor(
    private readonly ring: Ring,
    private readonly hasher: RequestHasher,
    private readonly random: () => number,
  ) {
    this.results = endpointResults(ring.endpoints);
  }

  pick(request: PickRequest): PickResult {
    // No key in the request: Envoy uses a random hash, i.e. a random endpoint weighted by
    // its share of the ring. Such requests get no stickiness.
    const h = this.hasher(request) ?? randomHash(this.random);
    const hashes = this.ring.hashes;
    let lo = 0;
    let hi = hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((hashes[mid] ?? 0) < h) lo = mid + 1;
      else hi = mid;
    }
    if (lo === hashes.length) lo = 0; // past the last entry: wrap to the first
    return this.results[this.ring.owners[lo] ?? 0] ?? NO_HEALTHY_UPSTREAM;
  }
}
