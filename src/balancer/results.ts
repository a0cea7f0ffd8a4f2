// Pick results shared by every policy. Results are immutable, so a picker builds one
// `{kind: "endpoint"}` object per endpoint up front and returns it on every pick: the data
// path then allocates nothing per RPC for balancing.
import { Status } from "../core/status.js";
import type { LbEndpoint, Picker, PickResult } from "./types.js";

export type EndpointResult = Extract<PickResult, { kind: "endpoint" }>;

/** What the proxy reports when no endpoint is usable (Envoy's wording). */
export const NO_HEALTHY_UPSTREAM: PickResult = Object.freeze({
  kind: "fail",
  status: Status.UNAVAILABLE,
  message: "no healthy upstream",
});

/** The picker every policy returns for an empty endpoint set. */
export const noHealthyUpstreamPicker: Picker = Object.freeze({
  pick: (): PickResult => NO_HEALTHY_UPSTREAM,
});

export function endpointResult(endpoint: LbEndpoint): EndpointResult {
  return Object.freeze({ kind: "endpoint", endpoint });
}

export function endpointResults(endpoints: readonly LbEndpoint[]): readonly EndpointResult[] {
  return endpoints.map(endpointResult);
}

/** True when every endpoint has the same weight: policies then take their unweighted path. */
export function allWeightsEqual(endpoints: readonly LbEndpoint[]): boolean {
  const first = endpoints[0];
  if (first === undefined) return true;
  return endpoints.every((e) => e.weight === first.weight);
}

/**
 * Endpoints ordered by key. Hash-based tables are built from this order so that the same
 * set of endpoints always yields the same table, whatever order discovery delivered it in.
 */
export function sortedByKey(endpoints: readonly LbEndpoint[]): LbEndpoint[] {
  return [...endpoints].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}
