// An endpoint source whose owner says what the set is: the demo and the tests use it to
// add and remove backends at runtime, as a Kubernetes rollout would.
import type { EndpointSource, ResolvedEndpoint } from "./types.js";

export class ManualEndpointSource implements EndpointSource {
  private onUpdate: ((endpoints: readonly ResolvedEndpoint[]) => void) | undefined;

  constructor(private endpoints: readonly ResolvedEndpoint[]) {}

  /** Emits the current set at once, synchronously, then every set() until stop(). */
  start(onUpdate: (endpoints: readonly ResolvedEndpoint[]) => void): void {
    this.onUpdate = onUpdate;
    onUpdate(this.endpoints);
  }

  /** Replaces the whole set; delivered at once if started (and the set differs). */
  set(endpoints: readonly ResolvedEndpoint[]): void {
    if (sameSet(this.endpoints, endpoints)) return;
    this.endpoints = endpoints;
    this.onUpdate?.(endpoints);
  }

  stop(): void {
    this.onUpdate = undefined;
  }
}

function sameSet(a: readonly ResolvedEndpoint[], b: readonly ResolvedEndpoint[]): boolean {
  return (
    a.length === b.length &&
    a.every((e, i) => {
      const o = b[i];
      return o !== undefined && o.address === e.address && o.port === e.port && o.weight === e.weight && JSON.stringify(o.labels) === JSON.stringify(e.labels);
    })
  );
}
