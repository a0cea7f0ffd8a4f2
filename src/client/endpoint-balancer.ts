// A grpc-js LoadBalancer that runs any sluice policy (src/balancer) over the endpoints the
// resolver gives it. One LeafLoadBalancer (grpc-js's pick_first for a single endpoint) per
// endpoint owns that endpoint's connection; this balancer keeps every endpoint connected,
// aggregates their states as gRFC A48 says for least_request (and grpc-js's round_robin
// does), and, while any endpoint is READY, publishes an EndpointPicker over the READY ones.
//
//   any endpoint READY                  -> READY, picker from the sluice policy
//   else any CONNECTING or IDLE         -> CONNECTING, QueuePicker
//   else (all TRANSIENT_FAILURE)        -> TRANSIENT_FAILURE, UnavailablePicker with the last error
//
// An endpoint that reported TRANSIENT_FAILURE counts as failed until it is READY again,
// even while it retries (A48), so a channel whose backends are all down fails calls fast
// instead of queueing them on every retry. grpc-js's pick_first leaf already reports it
// that way (it stays TRANSIENT_FAILURE through its reconnect attempts, gRFC A62), so the
// leaf's reported state is used as is (test/client/endpoint-balancer.test.ts checks it).
// The sluice picker is rebuilt only when the READY set (or the config) changes: a ring
// hash or a peak EWMA table is not rebuilt for every connectivity blip elsewhere.
import * as grpc from "@grpc/grpc-js";
import { formatHostPort } from "../balancer/address.js";
import type { LbEndpoint, Picker, PolicyDeps, PolicyFactory } from "../balancer/types.js";
import { systemClock } from "../core/clock.js";
import { systemRandom } from "../core/random.js";
import { tracer } from "../core/trace.js";
import { EndpointPicker } from "./endpoint-picker.js";

type Endpoint = grpc.experimental.Endpoint;
type LoadBalancer = grpc.experimental.LoadBalancer;
type ChannelControlHelper = grpc.experimental.ChannelControlHelper;
type TypedLoadBalancingConfig = grpc.experimental.TypedLoadBalancingConfig;
type GrpcPicker = grpc.experimental.Picker;
type StatusOr<T> = grpc.experimental.StatusOr<T>;
const State = grpc.connectivityState;
type State = grpc.connectivityState;
const { LeafLoadBalancer, QueuePicker, UnavailablePicker, createChildChannelControlHelper, endpointToString } = grpc.experimental;

const trace = tracer("client_balancer");

/** The config of a policy an EndpointBalancer runs: parsed and validated, immutable. */
export interface EndpointPolicyConfig extends TypedLoadBalancingConfig {
  /** Builds the shared sluice policy for this config. */
  createPolicy(deps: PolicyDeps): PolicyFactory;
}

function isEndpointPolicyConfig(config: TypedLoadBalancingConfig): config is EndpointPolicyConfig {
  return typeof (config as Partial<EndpointPolicyConfig>).createPolicy === "function";
}

/** What client policies run with: real time and Math.random. */
export const clientPolicyDeps: PolicyDeps = {
  random: systemRandom,
  loadMetric: "activeRequests",
  choiceCount: 2,
  clock: systemClock,
};

/** The sluice view of a grpc-js endpoint, keyed by its first address. */
export function lbEndpointOf(endpoint: Endpoint): LbEndpoint | undefined {
  const first = endpoint.addresses[0];
  if (first === undefined) return undefined;
  const load = { activeRequests: 0, activeConnections: 0 };
  if ("path" in first) return { key: first.path, address: first.path, port: 0, weight: 1, labels: {}, load };
  return { key: formatHostPort(first.host, first.port), address: first.host, port: first.port, weight: 1, labels: {}, load };
}

interface Child {
  readonly endpoint: LbEndpoint;
  readonly leaf: grpc.experimental.LeafLoadBalancer;
  /** grpc-js's text for the endpoint it was built from, to spot address changes. */
  resolved: string;
  /** The state the leaf last reported. */
  state: State;
}

export class EndpointBalancer implements LoadBalancer {
  private readonly children = new Map<string, Child>();
  private state: State = State.IDLE;
  private lastError: string | null = null;
  private updatesPaused = false;
  private configText = "";
  private policy: PolicyFactory | null = null;
  /** The READY keys the current sluice picker was built for ("" = none built). */
  private readyKeys = "";
  private picker: Picker | null = null;

  constructor(
    private readonly helper: ChannelControlHelper,
    private readonly typeName: string,
    private readonly deps: PolicyDeps = clientPolicyDeps,
  ) {}

  updateAddressList(endpoints: StatusOr<Endpoint[]>, config: TypedLoadBalancingConfig, options: grpc.ChannelOptions, resolutionNote: string): boolean {
    if (!isEndpointPolicyConfig(config) || config.getLoadBalancerName() !== this.typeName) return false;
    const text = JSON.stringify(config.toJsonObject());
    if (this.policy === null || text !== this.configText) {
      this.policy = config.createPolicy(this.deps);
      this.configText = text;
      this.readyKeys = "";
      this.picker = null;
    }
    if (!endpoints.ok) {
      // Keep serving from the endpoints we have (under a new policy, if the config changed);
      // fail only if there are none.
      if (this.children.size === 0) this.publish(State.TRANSIENT_FAILURE, new UnavailablePicker(endpoints.error), endpoints.error.details);
      else if (this.picker === null) this.update();
      return true;
    }
    const wanted = new Map<string, { endpoint: Endpoint; view: LbEndpoint }>();
    for (const endpoint of endpoints.value) {
      const view = lbEndpointOf(endpoint);
      // A repeated address would mean a second connection to it: gRFC A48 de-duplicates.
      if (view !== undefined && !wanted.has(view.key)) wanted.set(view.key, { endpoint, view });
    }
    trace("endpoints", { policy: this.typeName, endpoints: [...wanted.keys()] });
    this.updatesPaused = true;
    for (const [key, child] of this.children) {
      if (wanted.has(key)) continue;
      child.leaf.destroy();
      this.children.delete(key);
    }
    for (const [key, { endpoint, view }] of wanted) {
      const existing = this.children.get(key);
      const resolved = endpointToString(endpoint);
      if (existing !== undefined) {
        if (existing.resolved !== resolved) {
          existing.resolved = resolved;
          existing.leaf.updateEndpoint(endpoint, options);
        }
        continue;
      }
      const child = this.createChild(view, endpoint, resolved, options, resolutionNote);
      this.children.set(key, child);
      child.leaf.startConnecting();
    }
    this.updatesPaused = false;
    if (wanted.size === 0) {
      const message = `${this.typeName}: no addresses resolved${resolutionNote === "" ? "" : ` (${resolutionNote})`}`;
      this.publish(State.TRANSIENT_FAILURE, new UnavailablePicker({ details: message }), message);
      return true;
    }
    this.update();
    return true;
  }

  private createChild(view: LbEndpoint, endpoint: Endpoint, resolved: string, options: grpc.ChannelOptions, note: string): Child {
    const built: { child?: Child } = {};
    const helper = createChildChannelControlHelper(this.helper, {
      updateState: (state, _picker, error) => {
        // Reports during construction (before the child exists) carry nothing we need.
        if (built.child !== undefined) this.onChildState(built.child, state, error);
      },
    });
    const child: Child = { endpoint: view, leaf: new LeafLoadBalancer(endpoint, helper, options, note), resolved, state: State.IDLE };
    built.child = child;
    return child;
  }

  private onChildState(child: Child, state: State, error: string | null): void {
    if (this.children.get(child.endpoint.key) !== child) return; // destroyed: stale report
    const before = child.state;
    if (error !== null && error !== "") this.lastError = error;
    child.state = state;
    trace("endpoint state", { policy: this.typeName, endpoint: child.endpoint.key, from: State[before], to: State[state] });
    // Ask for fresh addresses when a connection is lost or cannot be made: the backend may
    // have moved (a rescheduled pod). Resolvers rate-limit these requests.
    if ((before === State.READY && state !== State.READY) || (state === State.TRANSIENT_FAILURE && before !== State.TRANSIENT_FAILURE)) {
      this.helper.requestReresolution();
    }
    this.update();
  }

  private update(): void {
    if (this.updatesPaused || this.policy === null) return;
    const ready: Child[] = [];
    let connecting = false;
    for (const child of this.children.values()) {
      if (child.state === State.READY) ready.push(child);
      else if (child.state === State.CONNECTING || child.state === State.IDLE) connecting = true;
    }
    if (ready.length > 0) {
      const keys = ready.map((c) => c.endpoint.key).join(" ");
      if (this.picker === null || keys !== this.readyKeys) {
        this.picker = this.policy(ready.map((c) => c.endpoint));
        this.readyKeys = keys;
      }
      const picker = new EndpointPicker(
        this.typeName,
        this.picker,
        ready.map((c) => ({ endpoint: c.endpoint, picker: c.leaf.getPicker() })),
        () => this.deps.clock?.now() ?? performance.now(),
        this.policy.outcomes,
      );
      this.publish(State.READY, picker, null);
    } else {
      this.picker = null;
      this.readyKeys = "";
      if (connecting) {
        this.publish(State.CONNECTING, new QueuePicker(this), null);
      } else {
        const message = `${this.typeName}: no connection established; last error: ${this.lastError ?? "none reported"}`;
        this.publish(State.TRANSIENT_FAILURE, new UnavailablePicker({ details: message }), message);
      }
    }
    // Keep every endpoint connected, as round_robin does: a leaf that went IDLE (its
    // connection closed) reconnects now rather than on the first pick that needs it.
    for (const child of this.children.values()) {
      if (child.leaf.getConnectivityState() === State.IDLE) child.leaf.exitIdle();
    }
  }

  private publish(state: State, picker: GrpcPicker, error: string | null): void {
    if (state !== this.state) trace("state", { policy: this.typeName, from: State[this.state], to: State[state] });
    this.state = state;
    this.helper.updateState(state, picker, error);
  }

  exitIdle(): void {
    for (const child of this.children.values()) {
      if (child.leaf.getConnectivityState() === State.IDLE) child.leaf.exitIdle();
    }
  }

  resetBackoff(): void {
    // Leaf balancers expose no backoff reset; each pick_first leaf manages its own.
  }

  destroy(): void {
    for (const child of this.children.values()) child.leaf.destroy();
    this.children.clear();
    this.picker = null;
    this.readyKeys = "";
  }

  getTypeName(): string {
    return this.typeName;
  }
}

/** A LoadBalancer class for registerLoadBalancerType: an EndpointBalancer named `typeName`. */
export function endpointBalancerType(typeName: string): new (helper: ChannelControlHelper) => LoadBalancer {
  return class extends EndpointBalancer {
    constructor(helper: ChannelControlHelper) {
      super(helper, typeName);
    }
  };
}
