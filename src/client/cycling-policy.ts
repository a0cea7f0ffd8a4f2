// `max_requests_per_connection`: Istio's connectionPool.http.maxRequestsPerConnection for a
// grpc-js client, as a policy wrapping any child policy:
//
//   { "max_requests_per_connection": { "maxRequestsPerConnection": 100,
//       "childPolicy": [{ "round_robin": {} }] } }
//
// gRPC keeps one HTTP/2 connection per address for hours, so whatever spread the balancer
// (or a layer-4 load balancer, or Kubernetes' Service) chose when it connected stays frozen;
// cycling connections after N calls re-opens that choice regularly. Without failing a call:
// - the child sees one stable subchannel per address (a "view"); beneath it sit
//   generations of real subchannels for that address;
// - once N calls have started on the active generation's connection, a new subchannel is
//   created with a channel argument unique to it (so grpc-js's subchannel pool cannot hand
//   back the same connection) and connected; calls keep going to the old one meanwhile;
// - when the new one is READY, new calls go to it; the old one is released once its calls
//   in flight have ended.
// 0 = no cycling (Istio's "unlimited").
//
// When the old connection really closes is grpc-js's business: its subchannel pool holds a
// ref of its own on every subchannel and drops the unused ones every 10 s
// (subchannel-pool.ts REF_CHECK_INTERVAL), or when the channel closes. The close is
// session.close(), which lets any stream still open finish. So up to 10 s worth of cycled,
// idle connections stay open; no public API closes one sooner.
import { connectivityState as ConnectivityState, experimental, type ChannelOptions } from "@grpc/grpc-js";
import { INT32_MAX } from "../config/limits.js";
import { tracer } from "../core/trace.js";
import { FieldReader } from "./config-fields.js";

export const MAX_REQUESTS_PER_CONNECTION_POLICY = "max_requests_per_connection";

/**
 * The channel argument that tells generations apart. Deliberately not under grpc-js's
 * excluded prefix: it must reach the subchannel pool's key to defeat sharing.
 */
export const CONNECTION_GENERATION_OPTION = "sluice.connection_generation";

const trace = tracer("max_requests_per_connection");

type Subchannel = experimental.SubchannelInterface;
type StateListener = experimental.ConnectivityStateListener;
type HealthListener = experimental.HealthListener;
type DataWatcher = Parameters<Subchannel["addDataWatcher"]>[0];

/** Process-wide, so two channels sharing the global subchannel pool never collide either. */
let lastGeneration = 0;

const FIELDS = ["maxRequestsPerConnection", "childPolicy"] as const;

/** Beyond the snake_case spellings, which FieldReader points at the camelCase ones itself. */
const HINTS: Readonly<Record<string, string>> = {
  maxRequestsPerConnections: 'use "maxRequestsPerConnection"',
};

export class MaxRequestsPerConnectionConfig implements experimental.TypedLoadBalancingConfig {
  /** Validated (createFromJson). */
  constructor(
    readonly maxRequestsPerConnection: number,
    readonly child: experimental.TypedLoadBalancingConfig,
  ) {}

  getLoadBalancerName(): string {
    return MAX_REQUESTS_PER_CONNECTION_POLICY;
  }

  toJsonObject(): object {
    return {
      [MAX_REQUESTS_PER_CONNECTION_POLICY]: { maxRequestsPerConnection: this.maxRequestsPerConnection, childPolicy: [this.child.toJsonObject()] },
    };
  }

  /** Throws a ConfigError (INVALID_ARGUMENT) naming every bad field. */
  static createFromJson(json: unknown): MaxRequestsPerConnectionConfig {
    const fields = new FieldReader(MAX_REQUESTS_PER_CONNECTION_POLICY, json, FIELDS, HINTS);
    fields.require("maxRequestsPerConnection", "0 for no cycling");
    const max = fields.integer("maxRequestsPerConnection", 0, INT32_MAX);
    const child = fields.childPolicy();
    if (max === undefined || child === undefined) return fields.fail(); // each recorded why
    fields.done();
    return new MaxRequestsPerConnectionConfig(max, child);
  }
}

/** One real subchannel (one connection at a time) for the address. */
interface Generation {
  readonly id: number;
  /** The parent's subchannel; referenced by us until released. */
  readonly sub: Subchannel;
  /** Calls started on its current connection. */
  started: number;
  inFlight: number;
  released: boolean;
  readonly onState: StateListener;
}

/**
 * All generations for one address, shared by every view the child created for it (pick_first
 * creates a new subchannel per address at each resolver update and expects a READY one
 * back, as grpc-js's subchannel pool would give it).
 */
class CycledAddress {
  private active: Generation;
  private next: Generation | null = null;
  private readonly draining = new Set<Generation>();
  private refs = 0;
  readonly views = new Set<CyclingSubchannel>();
  private readonly dataWatchers = new Set<DataWatcher>();
  /** The first generation's, for the slot's lifetime: children add and remove it in pairs. */
  readonly channelzRef: ReturnType<Subchannel["getChannelzRef"]>;

  constructor(
    readonly key: string,
    private readonly address: experimental.SubchannelAddress,
    private readonly args: ChannelOptions,
    private readonly helper: experimental.ChannelControlHelper,
    private readonly limit: () => number,
  ) {
    // The first generation uses the child's own arguments, so it shares connections the way
    // grpc-js always does; later ones get a unique argument.
    this.active = this.generation(helper.createSubchannel(address, args), 0);
    this.channelzRef = this.active.sub.getChannelzRef();
  }

  get referenced(): boolean {
    return this.refs > 0;
  }

  /** The generation new calls go to. */
  current(): Generation {
    return this.active;
  }

  ref(): void {
    if (this.refs++ > 0) return;
    this.active.sub.ref();
    this.active.sub.addConnectivityStateListener(this.active.onState);
    this.active.released = false;
  }

  unref(): void {
    if (--this.refs > 0) return;
    // Nobody uses the address any more: let every connection go (calls in flight still
    // finish: grpc-js closes the HTTP/2 session gracefully).
    if (this.next !== null) this.release(this.next);
    this.next = null;
    for (const g of [...this.draining]) this.release(g);
    this.release(this.active);
    for (const w of this.dataWatchers) w.destroy();
    this.dataWatchers.clear();
  }

  callStarted(g: Generation): void {
    g.started++;
    g.inFlight++;
    const max = this.limit();
    if (max > 0 && g === this.active && g.started >= max && this.next === null && this.refs > 0 && g.sub.getConnectivityState() === ConnectivityState.READY) {
      this.startNext();
    }
  }

  callEnded(g: Generation): void {
    g.inFlight--;
    if (g.inFlight === 0 && this.draining.has(g)) this.release(g);
  }

  state(): ConnectivityState {
    return this.active.sub.getConnectivityState();
  }

  startConnecting(): void {
    this.active.sub.startConnecting();
  }

  throttleKeepalive(ms: number): void {
    this.active.sub.throttleKeepalive(ms);
    this.next?.sub.throttleKeepalive(ms);
  }

  addDataWatcher(w: DataWatcher): void {
    this.dataWatchers.add(w);
    w.setSubchannel(this.active.sub.getRealSubchannel());
  }

  private generation(sub: Subchannel, id: number): Generation {
    const g: Generation = {
      id,
      sub,
      started: 0,
      inFlight: 0,
      released: true, // until ref()
      onState: (_s, previous, state, keepaliveTime, error) => this.onState(g, previous, state, keepaliveTime, error),
    };
    sub.addHealthStateWatcher((healthy) => {
      if (g === this.active) for (const v of this.views) v.notifyHealth(healthy);
    });
    return g;
  }

  private startNext(): void {
    const id = ++lastGeneration;
    const g = this.generation(this.helper.createSubchannel(this.address, { ...this.args, [CONNECTION_GENERATION_OPTION]: id }), id);
    g.sub.ref();
    g.released = false;
    g.sub.addConnectivityStateListener(g.onState);
    this.next = g;
    trace("connection reached maxRequestsPerConnection, connecting a new one", { address: this.key, started: this.active.started, generation: id });
    g.sub.startConnecting();
  }

  private onState(g: Generation, previous: ConnectivityState, state: ConnectivityState, keepaliveTime: number, error: string | undefined): void {
    if (g === this.next) {
      if (state === ConnectivityState.READY) this.promote(g);
      // The attempt failed and backed off: try again (grpc-js paces it with its backoff).
      else if (state === ConnectivityState.IDLE) g.sub.startConnecting();
      return;
    }
    if (g !== this.active) return;
    if (state === ConnectivityState.READY) g.started = 0; // a new connection on the same subchannel
    for (const v of [...this.views]) v.notifyState(previous, state, keepaliveTime, error);
  }

  private promote(g: Generation): void {
    const old = this.active;
    const oldState = old.sub.getConnectivityState();
    const wasHealthy = old.sub.isHealthy();
    this.active = g;
    this.next = null;
    old.sub.removeConnectivityStateListener(old.onState);
    trace("switched to the new connection", { address: this.key, generation: g.id, oldGeneration: old.id, oldInFlight: old.inFlight });
    if (old.inFlight === 0) this.release(old);
    else this.draining.add(old);
    for (const w of this.dataWatchers) {
      w.destroy();
      w.setSubchannel(g.sub.getRealSubchannel());
    }
    if (oldState !== ConnectivityState.READY) {
      for (const v of [...this.views]) v.notifyState(oldState, ConnectivityState.READY, -1, undefined);
    }
    const healthy = g.sub.isHealthy();
    if (healthy !== wasHealthy) for (const v of [...this.views]) v.notifyHealth(healthy);
  }

  private release(g: Generation): void {
    this.draining.delete(g);
    if (g.released) return;
    g.released = true;
    g.sub.removeConnectivityStateListener(g.onState);
    g.sub.unref();
    trace("released a connection", { address: this.key, generation: g.id });
  }
}

/** What the child holds: a stable subchannel for the address, whatever connection is beneath. */
class CyclingSubchannel implements Subchannel {
  private readonly listeners = new Set<StateListener>();
  private readonly healthListeners = new Set<HealthListener>();
  private refs = 0;

  constructor(readonly slot: CycledAddress) {}

  notifyState(previous: ConnectivityState, state: ConnectivityState, keepaliveTime: number, error: string | undefined): void {
    for (const l of [...this.listeners]) l(this, previous, state, keepaliveTime, error);
  }

  notifyHealth(healthy: boolean): void {
    for (const l of [...this.healthListeners]) l(healthy);
  }

  getConnectivityState(): ConnectivityState {
    return this.slot.state();
  }

  addConnectivityStateListener(listener: StateListener): void {
    this.listeners.add(listener);
    this.slot.views.add(this);
  }

  removeConnectivityStateListener(listener: StateListener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0 && this.healthListeners.size === 0) this.slot.views.delete(this);
  }

  startConnecting(): void {
    this.slot.startConnecting();
  }

  getAddress(): string {
    return this.slot.current().sub.getAddress();
  }

  throttleKeepalive(ms: number): void {
    this.slot.throttleKeepalive(ms);
  }

  ref(): void {
    this.refs++;
    this.slot.ref();
  }

  unref(): void {
    if (this.refs === 0) return;
    this.refs--;
    this.slot.unref();
  }

  getChannelzRef(): ReturnType<Subchannel["getChannelzRef"]> {
    return this.slot.channelzRef;
  }

  isHealthy(): boolean {
    return this.slot.current().sub.isHealthy();
  }

  addHealthStateWatcher(listener: HealthListener): void {
    this.healthListeners.add(listener);
    this.slot.views.add(this);
  }

  removeHealthStateWatcher(listener: HealthListener): void {
    this.healthListeners.delete(listener);
    if (this.listeners.size === 0 && this.healthListeners.size === 0) this.slot.views.delete(this);
  }

  addDataWatcher(w: DataWatcher): void {
    this.slot.addDataWatcher(w);
  }

  getRealSubchannel(): ReturnType<Subchannel["getRealSubchannel"]> {
    return this.slot.current().sub.getRealSubchannel();
  }

  realSubchannelEquals(other: Subchannel): boolean {
    return other.getRealSubchannel() === this.getRealSubchannel();
  }

  getCallCredentials(): ReturnType<Subchannel["getCallCredentials"]> {
    return this.slot.current().sub.getCallCredentials();
  }

  getChannel(): ReturnType<Subchannel["getChannel"]> {
    return this.slot.current().sub.getChannel();
  }
}

/** Sends each call to the active connection of the address the child picked, and counts it. */
class CyclingPicker implements experimental.Picker {
  constructor(private readonly child: experimental.Picker) {}

  pick(args: experimental.PickArgs): experimental.PickResult {
    const result = this.child.pick(args);
    const view = result.subchannel;
    if (result.pickResultType !== experimental.PickResultType.COMPLETE || !(view instanceof CyclingSubchannel)) return result;
    const slot = view.slot;
    const g = slot.current();
    const childStarted = result.onCallStarted;
    const childEnded = result.onCallEnded;
    // onCallStarted/onCallEnded come only for a call grpc-js really started on g (it
    // re-picks, without either, when g is no longer READY), so the counts stay exact.
    return {
      ...result,
      subchannel: g.sub,
      onCallStarted: () => {
        slot.callStarted(g);
        childStarted?.();
      },
      onCallEnded: (code, details, metadata) => {
        slot.callEnded(g);
        childEnded?.(code, details, metadata);
      },
    };
  }
}

class MaxRequestsPerConnectionBalancer implements experimental.LoadBalancer {
  private readonly child: experimental.ChildLoadBalancerHandler;
  private readonly slots = new Map<string, CycledAddress>();
  private max = 0;
  private destroyed = false;

  constructor(private readonly helper: experimental.ChannelControlHelper) {
    this.child = new experimental.ChildLoadBalancerHandler(
      experimental.createChildChannelControlHelper(helper, {
        createSubchannel: (address, args) => new CyclingSubchannel(this.slot(address, args)),
        updateState: (state, picker, error) => {
          if (!this.destroyed) this.helper.updateState(state, new CyclingPicker(picker), error);
        },
      }),
    );
  }

  updateAddressList(
    endpoints: experimental.StatusOr<experimental.Endpoint[]>,
    config: experimental.TypedLoadBalancingConfig,
    options: ChannelOptions,
    resolutionNote: string,
  ): boolean {
    if (!(config instanceof MaxRequestsPerConnectionConfig)) return false;
    this.max = config.maxRequestsPerConnection;
    // Addresses nobody references any more (removed, or created by the child and not kept).
    for (const [key, slot] of this.slots) if (!slot.referenced) this.slots.delete(key);
    return this.child.updateAddressList(endpoints, config.child, options, resolutionNote);
  }

  exitIdle(): void {
    this.child.exitIdle();
  }

  resetBackoff(): void {
    this.child.resetBackoff();
  }

  destroy(): void {
    this.destroyed = true;
    this.child.destroy();
    this.slots.clear();
  }

  getTypeName(): string {
    return MAX_REQUESTS_PER_CONNECTION_POLICY;
  }

  private slot(address: experimental.SubchannelAddress, args: ChannelOptions): CycledAddress {
    const key = experimental.subchannelAddressToString(address);
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = new CycledAddress(key, address, args, this.helper, () => this.max);
      this.slots.set(key, slot);
    }
    return slot;
  }
}

let registered = false;

/** Registers `max_requests_per_connection` with grpc-js; idempotent. */
export function registerMaxRequestsPerConnection(): void {
  if (registered) return;
  experimental.registerLoadBalancerType(MAX_REQUESTS_PER_CONNECTION_POLICY, MaxRequestsPerConnectionBalancer, MaxRequestsPerConnectionConfig);
  registered = true;
}
