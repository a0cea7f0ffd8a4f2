// The load-balancing interface shared by the proxy, the grpc-js client library and the
// simulator. A policy builds an immutable Picker for a set of endpoints; the data path
// calls pick() synchronously for each RPC (request mode) or connection (connection mode).
// Pickers read the endpoints' live load counters but never do I/O, and take their clock
// and randomness from PolicyDeps.
import type { Clock } from "../core/clock.js";
import type { Random } from "../core/random.js";
import type { StatusCode } from "../core/status.js";
import type { OutcomeObserver } from "./outcome.js";

/** Live counters the data path keeps per endpoint; pickers only read them. */
export interface LoadCounters {
  /** RPCs in flight to this endpoint. */
  activeRequests: number;
  /** Downstream connections pinned to this endpoint (connection mode). */
  activeConnections: number;
}

/** An endpoint as balancers see it. */
export interface LbEndpoint {
  /** `address:port`; unique within a cluster. */
  readonly key: string;
  readonly address: string;
  readonly port: number;
  /** >= 1. */
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly load: LoadCounters;
}

/** What a picker may look at in the request; all lazily read. */
export interface PickRequest {
  /**
   * A request header by lower-case name (first value), or undefined. For `cookie`, HTTP/2
   * may split the header into several fields (RFC 9113 8.2.3): return them joined with
   * "; " so consistent hashing on a cookie sees every cookie.
   */
  header(name: string): string | undefined;
  /** `:path`, including any query string. */
  readonly path: string;
  /** `:authority` as sent. */
  readonly authority: string;
  /** Downstream peer address. */
  readonly sourceIp: string;
}

export type PickResult =
  | { readonly kind: "endpoint"; readonly endpoint: LbEndpoint }
  /** Nothing usable right now, but may be soon: the caller waits (bounded) and re-picks. */
  | { readonly kind: "queue" }
  | { readonly kind: "fail"; readonly status: StatusCode; readonly message: string };

export interface Picker {
  pick(request: PickRequest): PickResult;
}

export interface PolicyDeps {
  readonly random: Random;
  /** Which load counter LEAST_REQUEST compares: requests (request mode) or connections. */
  readonly loadMetric: "activeRequests" | "activeConnections";
  /** Envoy's least_request choice_count, default 2. */
  readonly choiceCount: number;
  /**
   * Time for policies that learn from call latency (peak EWMA). Optional so that callers
   * of the load-only policies need not pass one; a policy that needs it says so when built.
   */
  readonly clock?: Clock;
}

/**
 * A policy: given the usable (healthy, non-ejected) endpoints, build a picker.
 * Called whenever the endpoint set or health changes; pickers are replaced, not mutated.
 */
export interface PolicyFactory {
  (endpoints: readonly LbEndpoint[]): Picker;
  /**
   * Optional feedback for policies that learn from outcomes (peak EWMA keeps a latency
   * estimate per endpoint across pickers). The data path reports every finished attempt to
   * it; policies that only read the live load counters leave it unset.
   */
  readonly outcomes?: OutcomeObserver;
}
