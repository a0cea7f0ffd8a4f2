// What the balancing layers share with the simulation: its RPCs, the clients' channels, the
// context every layer runs in, and the endpoint source the simulation drives.
import type { ClusterRuntime } from "../upstream/cluster.js";
import type { LbEndpoint, PickRequest } from "../balancer/types.js";
import type { Cluster, ProxyConfig } from "../config/types.js";
import type { TimerHandle } from "../core/clock.js";
import type { Random } from "../core/random.js";
import type { EndpointSource, ResolvedEndpoint } from "../discovery/types.js";
import type { SimBackend } from "./backend.js";
import type { Recorder } from "./recorder.js";
import type { Layer, Scenario } from "./scenario.js";
import type { SimClock } from "./sim-clock.js";

/** One RPC of a simulated client. `finish` is called once, however it ends. */
export interface SimRpc {
  readonly channel: SimChannel;
  readonly startedAt: number;
  /** `backend`: its index, or -1 when the RPC never reached one; `failure`: why it failed, or null. */
  readonly finish: (backend: number, failure: string | null) => void;
}

/** A client's gRPC channel: in the connection layers, one connection at a time. */
export class SimChannel {
  /** The open connection's id, or null (none yet, or sent GOAWAY / closed). */
  conn: number | null = null;
  /** L4: the backend the connection is pinned to. */
  pinned: LbEndpoint | null = null;
  connecting = false;
  /** Connection mode: the open connection's maxConnectionAge timer. */
  ageTimer: TimerHandle | null = null;
  readonly waiting: SimRpc[] = [];
  /** Client layer: the channel's own view of the endpoints (its own load counters). */
  cluster: ClusterRuntime | null = null;
  source: SimSource | null = null;

  constructor(
    readonly id: number,
    /** What a hash policy on the source IP sees: the client's address. */
    readonly request: PickRequest,
  ) {}
}

export interface SimContext {
  readonly clock: SimClock;
  readonly random: Random;
  readonly recorder: Recorder;
  readonly scenario: Scenario;
  readonly config: ProxyConfig;
  /** The cluster whose traffic policy is simulated. */
  readonly cluster: Cluster;
  readonly backends: ReadonlyMap<string, SimBackend>;
}

export interface Balancing {
  readonly layer: Layer;
  /** What the summary names as the policy. */
  readonly policyName: string;
  /** The backends in the balancing set now (after an add or a removal). */
  setBackends(backends: readonly SimBackend[]): void;
  send(rpc: SimRpc): void;
  /** Connections pinned per backend index (0 where the layer has no pins). */
  connectionsPerBackend(count: number): number[];
  stop(): void;
}

/** An endpoint source the simulation drives. */
export class SimSource implements EndpointSource {
  private onUpdate: ((endpoints: readonly ResolvedEndpoint[]) => void) | null = null;
  private current: readonly ResolvedEndpoint[] = [];

  start(onUpdate: (endpoints: readonly ResolvedEndpoint[]) => void): void {
    this.onUpdate = onUpdate;
    onUpdate(this.current);
  }

  stop(): void {
    this.onUpdate = null;
  }

  set(backends: readonly SimBackend[]): void {
    this.current = backends.map((b) => ({ address: b.address, port: b.port, weight: 1, labels: { pod: b.name } }));
    this.onUpdate?.(this.current);
  }
}
