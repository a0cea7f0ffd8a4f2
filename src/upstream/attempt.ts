// How one attempt of an RPC on one endpoint ended, as the forwarder reports it to the
// cluster's observers (outlier detection, metrics). An RPC that is retried has several
// attempts, each reported against the endpoint that served it.
import type { LbEndpoint } from "../balancer/types.js";

export const AttemptEnd = {
  /** The backend answered with a grpc-status (in trailers or a trailers-only response). */
  RESPONSE: 0,
  /** No connection could be made (refused, timed out, closed before SETTINGS). */
  CONNECT_FAILURE: 1,
  /** The stream or its connection was reset, or ended without trailers, before the RPC finished. */
  RESET: 2,
  /** The per-try timeout or the deadline passed while the backend had the request. */
  TIMEOUT: 3,
  /** The client cancelled the RPC while the backend had it: an attempt (Envoy counts it), not the backend's failure. */
  CANCELLED: 4,
} as const;
export type AttemptEnd = (typeof AttemptEnd)[keyof typeof AttemptEnd];

export interface AttemptObserver {
  /**
   * `grpcStatus` is the backend's status for RESPONSE (-1 when it sent none), else -1.
   * `durationMs` runs from the attempt's start (stream opened or connection wanted) to its end.
   */
  attemptEnded(endpoint: LbEndpoint, end: AttemptEnd, grpcStatus: number, durationMs: number): void;
}
