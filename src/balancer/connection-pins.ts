// Connection mode (the model the common Istio recipe for gRPC assumes): each downstream
// connection is pinned to one endpoint per cluster, picked on the connection's first RPC to
// that cluster; LEAST_CONN compares the connections pinned to each endpoint; after
// maxRequestsPerConnection RPCs the connection is sent GOAWAY so that the client reconnects
// and is balanced again. A pin moves when the balancer would no longer pick its endpoint (it
// left, was excluded, or cannot be reached), as a request-mode pick passes such endpoints
// over. The proxy and the simulator both run this one implementation.
import type { LbEndpoint, PickRequest, PickResult } from "./types.js";
import { tracer } from "../core/trace.js";

const trace = tracer("proxy");

/**
 * Why a pin moved off its endpoint: the endpoint left the cluster; it was excluded (ejected,
 * or failing health checks, outside panic); or it could not be reached (TRANSIENT_FAILURE).
 */
export type PinMove = "left" | "excluded" | "unreachable";

/** What pinning needs of a cluster (ClusterRuntime has it). */
export interface PinnableCluster {
  readonly name: string;
  /** True while too few endpoints are healthy: balancing ignores health. */
  readonly panic: boolean;
  isCurrent(endpoint: LbEndpoint): boolean;
  isHealthy(key: string): boolean;
  /** Whether the picker could choose this endpoint now (in the cluster, not excluded, reachable unless none is). */
  isPickable(endpoint: LbEndpoint): boolean;
  pick(request: PickRequest): PickResult;
  /** A pin moved to another endpoint (the cluster counts it). */
  pinMoved(why: PinMove): void;
}

/**
 * One downstream connection's pin to one cluster, as the RPCs on that connection hold it:
 * each attempt asks for the endpoint again, so an attempt after the pin moved (or after
 * its endpoint became unreachable) goes where the connection goes now.
 */
export interface Pin {
  /** The connection's endpoint now (moved first if it can no longer be picked); undefined when the cluster has nothing to pick, or the connection closed. */
  endpoint(): LbEndpoint | undefined;
}

/** State kept per downstream connection. */
interface PinState {
  streams: number;
  /** The endpoint each cluster is pinned to for this connection. */
  readonly pins: Map<PinnableCluster, LbEndpoint>;
  /**
   * Whether the pins count in their endpoints' activeConnections, which LEAST_CONN compares:
   * until the connection is sent GOAWAY. A draining connection takes no new RPCs, so it no
   * longer loads its endpoint; were it still counted, the client's replacement connection
   * would shun the pod it just left and a 1/1/1 spread would keep reshuffling.
   */
  counted: boolean;
}

export class ConnectionPins {
  private readonly connections = new Map<number, PinState>();
  /** Envoy's downstream_cx_max_requests_reached: connections sent GOAWAY at maxRequestsPerConnection. */
  cycled = 0;

  /**
   * The endpoint this connection's RPC to `cluster` goes to: its pin, picked again when the
   * pinned endpoint left the cluster or was taken out of balancing while others remain.
   * Undefined when the cluster has nothing to pick now (the caller balances the RPC on its
   * own, queueing or failing as in request mode).
   */
  endpointFor(connId: number, cluster: PinnableCluster, request: PickRequest): LbEndpoint | undefined {
    let state = this.connections.get(connId);
    if (state === undefined) {
      state = { streams: 0, pins: new Map(), counted: true };
      this.connections.set(connId, state);
    }
    return this.resolve(connId, state, cluster, request);
  }

  /**
   * The pin an RPC starting on the connection holds (the connection is tracked from now on,
   * as by endpointFor): its attempts ask it for their endpoint.
   */
  pinFor(connId: number, cluster: PinnableCluster, request: PickRequest): Pin {
    if (!this.connections.has(connId)) this.connections.set(connId, { streams: 0, pins: new Map(), counted: true });
    return {
      endpoint: () => {
        const state = this.connections.get(connId);
        // Closed meanwhile: the RPC's next attempt is balanced on its own.
        return state === undefined ? undefined : this.resolve(connId, state, cluster, request);
      },
    };
  }

  /** The connection's endpoint in the cluster: its pin, moved when the picker would no longer choose it. */
  private resolve(connId: number, state: PinState, cluster: PinnableCluster, request: PickRequest): LbEndpoint | undefined {
    const pinned = state.pins.get(cluster);
    if (pinned !== undefined && cluster.isPickable(pinned)) return pinned;
    let moved: PinMove | undefined;
    if (pinned !== undefined) {
      moved = !cluster.isCurrent(pinned) ? "left" : !cluster.isHealthy(pinned.key) && !cluster.panic ? "excluded" : "unreachable";
      if (state.counted) pinned.load.activeConnections--;
      state.pins.delete(cluster);
      trace("connection unpinned", { conn: connId, cluster: cluster.name, endpoint: pinned.key, why: moved });
    }
    const pick = cluster.pick(request);
    if (pick.kind !== "endpoint") return undefined;
    const next = pick.endpoint;
    if (state.counted) next.load.activeConnections++;
    state.pins.set(cluster, next);
    trace("connection pinned", { conn: connId, cluster: cluster.name, endpoint: next.key, connections: next.load.activeConnections });
    // A move is counted once the connection lands on another endpoint. (PASSTHROUGH picks each
    // RPC's endpoint from its :authority, outside the cluster's set: it lands where it was.)
    if (moved !== undefined && next.key !== pinned!.key) cluster.pinMoved(moved);
    return next;
  }

  /**
   * Counts one RPC on the connection; true when it was the connection's `limit`th (0 = no
   * limit): the connection is unpinned now, and the caller sends it GOAWAY.
   */
  countStream(connId: number, limit: number): boolean {
    const state = this.connections.get(connId);
    if (state === undefined) return false;
    state.streams++;
    if (limit <= 0 || state.streams !== limit) return false;
    this.cycled++;
    trace("downstream connection cycled", { conn: connId, streams: state.streams });
    // Before the GOAWAY goes out, so the client's reconnection is balanced without this one.
    this.unpin(connId);
    return true;
  }

  /** The connection's pins stop counting in their endpoints' load (it drains or closes). */
  unpin(connId: number): void {
    const state = this.connections.get(connId);
    if (state === undefined || !state.counted) return;
    state.counted = false;
    for (const endpoint of state.pins.values()) {
      endpoint.load.activeConnections--;
      trace("connection unpinned", { conn: connId, endpoint: endpoint.key, connections: endpoint.load.activeConnections });
    }
  }

  /** The connection closed: unpinned and forgotten. */
  closed(connId: number): void {
    this.unpin(connId);
    this.connections.delete(connId);
  }
}
