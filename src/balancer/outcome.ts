// How one attempt of an RPC on one endpoint ended: the one outcome type that the data path
// (proxy forwarder, sluice/client pickers, the simulator) reports and that outlier detection,
// metrics and latency-learning policies (peak EWMA) all read. It lives here, the lowest layer
// that needs it, so every layer above can report or subscribe without reaching upwards.
// An RPC that is retried has several attempts, each reported against the endpoint it ran on.

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

/** Who an attempt's end tells about: the backend answered, the way to it failed, or the client gave up. */
export type AttemptCause = "backend" | "network" | "client";

export function causeOf(end: AttemptEnd): AttemptCause {
  if (end === AttemptEnd.RESPONSE) return "backend";
  return end === AttemptEnd.CANCELLED ? "client" : "network";
}

export interface AttemptOutcome {
  /** The endpoint's key (an LbEndpoint will do); only the key is read, so sluice/client's outlier policy passes `{ key }`. */
  readonly endpoint: { readonly key: string };
  readonly end: AttemptEnd;
  /** The backend's grpc-status for RESPONSE (-1 when it sent none), else -1. */
  readonly grpcStatus: number;
  /** From the attempt's start (stream opened or connection wanted) to its end. */
  readonly durationMs: number;
}

/** Told of every attempt's end on a cluster (outlier detection, metrics, a learning policy). */
export interface OutcomeObserver {
  attemptEnded(outcome: AttemptOutcome): void;
}
