// gRPC status codes, their names, and the HTTP code Envoy maps each to (used by outlier
// detection and metrics). An error a gRPC client sees carries one as `grpcStatus` (errors.ts).

export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type StatusCode = (typeof Status)[keyof typeof Status];

const NAMES: readonly string[] = Object.keys(Status);

export function statusName(code: number): string {
  return NAMES[code] ?? `CODE_${code}`;
}

/** Envoy's gRPC status -> HTTP status table. */
const HTTP_OF_STATUS: readonly number[] = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

export function httpStatusOfGrpc(code: number): number {
  return HTTP_OF_STATUS[code] ?? 500;
}

/** The gRPC spec's status for a response whose :status is not 200 (http-grpc-status-mapping.md). */
export function grpcStatusOfHttp(httpStatus: number): StatusCode {
  switch (httpStatus) {
    case 400:
      return Status.INTERNAL;
    case 401:
      return Status.UNAUTHENTICATED;
    case 403:
      return Status.PERMISSION_DENIED;
    case 404:
      return Status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Status.UNAVAILABLE;
    default:
      return Status.UNKNOWN;
  }
}

/**
 * The status a client gets when the backend resets its stream (RST_STREAM) after the
 * response began, as grpc-js maps the code; any other code is INTERNAL. Codes are RFC 9113
 * section 7's (core knows no transport, so they are spelled out here).
 */
export const STATUS_OF_RESET: ReadonlyMap<number, { readonly name: string; readonly status: StatusCode; readonly reason: string }> = new Map([
  [0x7, { name: "REFUSED_STREAM", status: Status.UNAVAILABLE, reason: "the server did not process the stream (RFC 9113 8.7): safe to try again" }],
  [0x8, { name: "CANCEL", status: Status.CANCELLED, reason: "the server no longer wants the stream: the call was cancelled" }],
  [0xb, { name: "ENHANCE_YOUR_CALM", status: Status.RESOURCE_EXHAUSTED, reason: "the server says it is overloaded (bandwidth or memory)" }],
  [0xc, { name: "INADEQUATE_SECURITY", status: Status.PERMISSION_DENIED, reason: "the transport is not secure enough for the server" }],
]);

/** The status for an upstream RST_STREAM code after the response began (STATUS_OF_RESET, else INTERNAL). */
export function statusOfReset(code: number): StatusCode {
  return STATUS_OF_RESET.get(code)?.status ?? Status.INTERNAL;
}
