// What a simulation runs: clients, backends, what happens to the backends over time, and the
// balancing layer between them. Built-in scenarios are in scenarios.ts; a scenario file (YAML
// or JSON) is read by scenario-file.ts into the same shape.

/** A service-time distribution. */
export type Distribution =
  | { readonly kind: "constant"; readonly ms: number }
  | { readonly kind: "exponential"; readonly meanMs: number }
  /** Log-normal given by its median and 99th percentile (a long tail, as real services have). */
  | { readonly kind: "lognormal"; readonly medianMs: number; readonly p99Ms: number };

export type ClientLoad =
  /** Open loop: RPCs per second per client, arriving as a Poisson process or evenly spaced. */
  | { readonly kind: "rate"; readonly rps: number; readonly arrival: "poisson" | "uniform" }
  /** Closed loop: each client keeps this many RPCs in flight, starting one as one ends. */
  | { readonly kind: "concurrency"; readonly inFlight: number };

export interface ClientSpec {
  readonly count: number;
  /** gRPC channels per client; a client's RPCs go to its channels in turn. */
  readonly channelsEach: number;
  readonly load: ClientLoad;
  /**
   * Clients start one after another over this long (client i at i x rampMs / count), as a
   * fleet does; 0: all at once. Connection cycles keep the phases the clients started with.
   */
  readonly rampMs: number;
}

export interface BackendSpec {
  /** Backends up at the start (pod-1 .. pod-N). */
  readonly count: number;
  readonly serviceTime: Distribution;
  /** RPCs a backend serves at once; more wait in its queue (Infinity: no limit). */
  readonly concurrency: number;
}

/** Something that happens to the backends at a given time; `backend` is a name like "pod-2". */
export type BackendEvent =
  /** New backends (named on from the highest pod number so far). */
  | { readonly atMs: number; readonly kind: "add"; readonly count: number }
  /** A graceful removal: no new RPCs; those in flight finish; connections to it close. */
  | { readonly atMs: number; readonly kind: "remove"; readonly backend: string }
  /** Service time multiplied by `factor` from now on (1 = back to normal). */
  | { readonly atMs: number; readonly kind: "slow"; readonly backend: string; readonly factor: number }
  /** A share of its RPCs (0..1) fail fast with UNAVAILABLE from now on (0 = healthy again). */
  | { readonly atMs: number; readonly kind: "fail"; readonly backend: string; readonly errorRate: number }
  /** Kubernetes replacing a pod: removed now, a new pod (a new address) added `downMs` later. */
  | { readonly atMs: number; readonly kind: "restart"; readonly backend: string; readonly downMs: number };

/**
 * Where balancing happens: sluice proxy balancing every RPC, or every connection (connection
 * mode, the model the common Istio recipe for gRPC assumes); gRPC's client-side balancing in
 * each channel; or plain L4 (kube-proxy: a connection is pinned to a random backend for its
 * life, so a long-lived connection stays on the backend it first reached).
 */
export type Layer = "proxy-request" | "proxy-connection" | "client" | "l4";
export const LAYERS: readonly Layer[] = ["proxy-request", "proxy-connection", "client", "l4"];

/** The client-side policies sluice/client offers (src/balancer code in each channel). */
export type ClientPolicy = "round_robin" | "least_request" | "peak_ewma" | "random";
export const CLIENT_POLICIES: readonly ClientPolicy[] = ["round_robin", "least_request", "peak_ewma", "random"];

export interface Scenario {
  readonly name: string;
  readonly description: string;
  readonly durationMs: number;
  /** Width of the time series' buckets. */
  readonly bucketMs: number;
  /** Shares and latencies are summed from here on (warm-up before it is left out). */
  readonly measureFromMs: number;
  readonly clients: ClientSpec;
  readonly backends: BackendSpec;
  readonly events: readonly BackendEvent[];
  /** The layer used unless --layer says otherwise (with -c, a config whose proxy runs another mode gets a note saying so). */
  readonly layer: Layer;
  readonly clientPolicy: ClientPolicy;
  /** A new connection's handshake (TCP + HTTP/2 SETTINGS); RPCs wait for it. */
  readonly connectMs: number;
  /** How long a new backend takes to reach clients in the client layer (DNS re-resolution). */
  readonly discoveryDelayMs: number;
  /** Latency of an RPC a failing backend fails. */
  readonly failMs: number;
  readonly seed: number;
}
