// Envoy's response flags (the access log's %RESPONSE_FLAGS% and Istio's response_flags
// label): why the proxy, not the backend, decided how an RPC ended. Indices, so the per-RPC
// path passes a small integer and metrics index arrays with it.
import { httpStatusOfGrpc } from "../core/status.js";

/** In index order; "-" = nothing to report (the backend answered). */
export const RESPONSE_FLAG_NAMES = ["-", "NR", "UH", "UO", "UF", "UT", "UC", "UR", "UPE", "DC", "DPE"] as const;
export type ResponseFlagName = (typeof RESPONSE_FLAG_NAMES)[number];

export const ResponseFlag = {
  NONE: 0,
  /** No route for the request (or a :path that names no method). */
  NO_ROUTE: 1,
  /** No healthy upstream endpoint to pick. */
  NO_HEALTHY_UPSTREAM: 2,
  /** A circuit breaker refused it (http2MaxRequests, http1MaxPendingRequests). */
  UPSTREAM_OVERFLOW: 3,
  /** The upstream connection could not be made. */
  UPSTREAM_CONNECTION_FAILURE: 4,
  /** The per-try timeout, the route timeout or the grpc-timeout passed. */
  UPSTREAM_REQUEST_TIMEOUT: 5,
  /** The upstream connection went away under the RPC. */
  UPSTREAM_CONNECTION_TERMINATION: 6,
  /** The backend reset the stream. */
  UPSTREAM_REMOTE_RESET: 7,
  /** The backend broke the protocol (a stream ended without trailers). */
  UPSTREAM_PROTOCOL_ERROR: 8,
  /** The client went away (cancelled the call or lost its connection). */
  DOWNSTREAM_CONNECTION_TERMINATION: 9,
  /** The client's request was malformed (a grpc-timeout that does not parse). */
  DOWNSTREAM_PROTOCOL_ERROR: 10,
} as const;
export type ResponseFlag = (typeof ResponseFlag)[keyof typeof ResponseFlag];

export const RESPONSE_FLAG_COUNT = RESPONSE_FLAG_NAMES.length;

export function responseFlagName(flag: ResponseFlag): ResponseFlagName {
  return RESPONSE_FLAG_NAMES[flag] ?? "-";
}

/**
 * The HTTP code Envoy reports for an RPC: 200 for every answer from a backend (gRPC travels
 * in HTTP 200), the HTTP code of the status for the proxy's own replies (503 for
 * UNAVAILABLE), and 404 for a request no route took, as Envoy's NR reply.
 */
export function responseCode(status: number | null, local: boolean, flag: ResponseFlag): number {
  if (!local || status === null) return 200;
  return flag === ResponseFlag.NO_ROUTE ? 404 : httpStatusOfGrpc(status);
}
