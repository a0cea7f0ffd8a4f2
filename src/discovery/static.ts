// STATIC resolution (Istio ServiceEntry resolution: STATIC): the configured addresses are
// the endpoints. Validation has already checked they are IP addresses.
import type { Endpoint } from "../config/types.js";
import type { EndpointSource, ResolvedEndpoint } from "./types.js";

export class StaticEndpointSource implements EndpointSource {
  private readonly endpoints: readonly ResolvedEndpoint[];

  constructor(endpoints: readonly Endpoint[]) {
    this.endpoints = Object.freeze(endpoints.map((e) => Object.freeze({ address: e.address, port: e.port, weight: e.weight, labels: e.labels })));
  }

  /** Emits the set once, synchronously: there is nothing to wait for. */
  start(onUpdate: (endpoints: readonly ResolvedEndpoint[]) => void): void {
    onUpdate(this.endpoints);
  }

  stop(): void {
    // Nothing to cancel: the set never changes.
  }
}
