// Endpoint sources turn a cluster's configured endpoints into resolved endpoint sets over
// time. The upstream layer owns what happens next (pools, load counters, pickers); a
// source only says "this is the set now".

/** One concrete destination: an IP address and port, with the config's weight and labels. */
export interface ResolvedEndpoint {
  /** An IP address (v4 or v6, without brackets). */
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  /** The DNS name this address was resolved from; absent for configured IPs. */
  readonly hostname?: string;
}

export interface EndpointSource {
  /**
   * Begins delivering endpoint sets. Each call of onUpdate carries the complete current
   * set (not a delta), and is made only when the set differs from the previous one.
   */
  start(onUpdate: (endpoints: readonly ResolvedEndpoint[]) => void): void;
  /** Stops timers; no onUpdate call happens after stop() returns. */
  stop(): void;
  /** Before start(): takes over what a source it replaces (a config reload) still knows. */
  adopt?(previous: EndpointSource): void;
}
