// PASSTHROUGH: no balancing; the request goes to the IP address and port in its
// `:authority` (Istio forwards to the original destination the same way).
//
// The configured endpoints do not limit where a request may go, so unlike the other
// policies an empty endpoint set does not fail. When the authority names a configured
// endpoint, that endpoint (with its labels, weight and live counters) is returned;
// otherwise the picker makes one and keeps it in a bounded LRU cache, so repeated picks
// for an authority return the same endpoint object and result without allocating.
import { formatHostPort, parseIpAuthority } from "./address.js";
import { Status } from "../core/status.js";
import { endpointResult, type EndpointResult } from "./results.js";
import type { LbEndpoint, Picker, PickResult, PolicyDeps, PolicyFactory } from "./types.js";

export interface PassthroughOptions {
  /** Authorities remembered per picker; least recently used ones are dropped first. */
  readonly cacheSize?: number;
}

export const DEFAULT_PASSTHROUGH_CACHE_SIZE = 1024;

export function passthroughPolicy(_deps: PolicyDeps, options: PassthroughOptions = {}): PolicyFactory {
  const cacheSize = options.cacheSize ?? DEFAULT_PASSTHROUGH_CACHE_SIZE;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) {
    throw new RangeError(`passthrough cacheSize must be an integer >= 1, got ${cacheSize}`);
  }
  return (endpoints) => new PassthroughPicker(endpoints, cacheSize);
}

class PassthroughPicker implements Picker {
  private readonly known = new Map<string, EndpointResult>();
  // Map keeps insertion order: the first key is the least recently used.
  private readonly cache = new Map<string, EndpointResult>();

  constructor(
    endpoints: readonly LbEndpoint[],
    private readonly cacheSize: number,
  ) {
    for (const e of endpoints) {
      const result = endpointResult(e);
      this.known.set(e.key, result);
      this.known.set(formatHostPort(e.address, e.port), result);
    }
  }

  pick(request: { readonly authority: string }): PickResult {
    const authority = request.authority;
    const known = this.known.get(authority);
    if (known !== undefined) return known;
    const cached = this.cache.get(authority);
    if (cached !== undefined) {
      this.cache.delete(authority);
      this.cache.set(authority, cached);
      return cached;
    }
    const parsed = parseIpAuthority(authority);
    if (!parsed.ok) {
      return {
        kind: "fail",
        status: Status.UNAVAILABLE,
        message: `passthrough: :authority "${authority}" ${parsed.reason}; expected ip:port or [ipv6]:port`,
      };
    }
    const key = formatHostPort(parsed.address, parsed.port);
    const result =
      this.known.get(key) ??
      endpointResult({
        key,
        address: parsed.address,
        port: parsed.port,
        weight: 1,
        labels: {},
        load: { activeRequests: 0, activeConnections: 0 },
      });
    if (this.cache.size >= this.cacheSize) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(authority, result);
    return result;
  }
}
