// The statuses the proxy gives a client itself, and the response flag of each (Envoy's, for
// the access log and Istio's response_flags label): one table of how every failure the
// forwarder meets becomes what the client sees. Pure: the forwarder decides when, this says what.
import type { PickResult } from "../balancer/types.js";
import type { SluiceError } from "../core/errors.js";
import { Status, statusOfReset, type StatusCode } from "../core/status.js";
import { h2CodeName, H2Code } from "../transport/types.js";
import { ConnectFailure, EndpointGone } from "../upstream/endpoint-pool.js";
import { ResponseFlag } from "./response-flags.js";

export interface LocalStatus {
  readonly code: StatusCode;
  readonly message: string;
  readonly flag: ResponseFlag;
}

/** The http2MaxRequests circuit breaker refused the RPC. */
export function overflow(limit: number, cluster: string): LocalStatus {
  return {
    code: Status.UNAVAILABLE,
    message: `upstream overflow: http2MaxRequests limit (${limit}) reached for ${cluster}`,
    flag: ResponseFlag.UPSTREAM_OVERFLOW,
  };
}

/** The balancer found nothing to pick (UH), or its policy answered with a status of its own (no flag). */
export function pickFailure(pick: Exclude<PickResult, { kind: "endpoint" }>): LocalStatus {
  if (pick.kind !== "fail") return { code: Status.UNAVAILABLE, message: "no healthy upstream", flag: ResponseFlag.NO_HEALTHY_UPSTREAM };
  return { code: pick.status, message: pick.message, flag: pick.status === Status.UNAVAILABLE ? ResponseFlag.NO_HEALTHY_UPSTREAM : ResponseFlag.NONE };
}

/** The pool could give no connection: it failed (UF), its endpoint left (UH), or http1MaxPendingRequests (UO). */
export function poolRefusal(err: SluiceError, message: string): LocalStatus {
  const flag =
    err instanceof ConnectFailure
      ? ResponseFlag.UPSTREAM_CONNECTION_FAILURE
      : err instanceof EndpointGone
        ? ResponseFlag.NO_HEALTHY_UPSTREAM
        : ResponseFlag.UPSTREAM_OVERFLOW;
  return { code: err.grpcStatus ?? Status.UNAVAILABLE, message, flag };
}

/**
 * The backend's stream was reset (or its connection lost). A lost connection, a refused
 * stream, or any reset before the response is UNAVAILABLE (retryable, a gateway error); a
 * reset mid-response maps as grpc-js maps RST_STREAM.
 */
export function resetStatus(code: number, connectionLost: boolean, responded: boolean, detail: string): LocalStatus {
  const status = connectionLost || code === H2Code.REFUSED_STREAM || !responded ? Status.UNAVAILABLE : statusOfReset(code);
  return { code: status, message: detail, flag: connectionLost ? ResponseFlag.UPSTREAM_CONNECTION_TERMINATION : ResponseFlag.UPSTREAM_REMOTE_RESET };
}

/** What a reset's message says: how, whether before the response, the code and the endpoint. */
export function resetDetail(reason: string, responded: boolean, code: number, endpoint: string): string {
  return `${reason}${responded ? "" : " before response"}: ${h2CodeName(code)} from ${endpoint}`;
}

/**
 * The per-try timeout passed: Envoy's 504 "upstream request timeout", which a gRPC client
 * gets as UNAVAILABLE: the call's own deadline has not passed, so DEADLINE_EXCEEDED would mislead.
 */
export function perTryTimeout(message: string): LocalStatus {
  return { code: Status.UNAVAILABLE, message, flag: ResponseFlag.UPSTREAM_REQUEST_TIMEOUT };
}

export const DEADLINE_EXCEEDED: LocalStatus = {
  code: Status.DEADLINE_EXCEEDED,
  message: "deadline exceeded (grpc-timeout or route timeout) in sluice proxy",
  flag: ResponseFlag.UPSTREAM_REQUEST_TIMEOUT,
};

export const NO_TRAILERS: LocalStatus = {
  code: Status.INTERNAL,
  message: "upstream ended the stream without trailers",
  flag: ResponseFlag.UPSTREAM_PROTOCOL_ERROR,
};
