// Every error sluice raises is a SluiceError whose `code` names its cause, as undici's
// UND_ERR_* and Node's ERR_* do: callers branch on `code` or `instanceof`, never on the
// message, and an operator looks the code up in docs/errors.md. The CLI prints
// `error [CODE]: message`; pino's err serializer puts `code` (an own property) in log lines.
//
// All codes are listed here, by the layer that raises them, so that they stay unique. A class
// raised by one layer only lives in that layer; the ones several layers raise live here.
import { Status, type StatusCode } from "./status.js";

/** Stable: a released code is never renamed or reused; a new cause gets a new code (and a row in docs/errors.md). */
export const ErrorCode = {
  // core: any layer
  INVALID_ARGUMENT: "SLUICE_ERR_INVALID_ARGUMENT",
  INVALID_STATE: "SLUICE_ERR_INVALID_STATE",
  INTERNAL: "SLUICE_ERR_INTERNAL",
  PROTO_MISSING: "SLUICE_ERR_PROTO_MISSING",
  // transport
  CONNECT_TIMEOUT: "SLUICE_ERR_CONNECT_TIMEOUT",
  H2_CONNECTION: "SLUICE_ERR_H2_CONNECTION",
  UPSTREAM_TLS: "SLUICE_ERR_UPSTREAM_TLS",
  HPACK: "SLUICE_ERR_HPACK",
  // balancer
  UNKNOWN_POLICY: "SLUICE_ERR_UNKNOWN_POLICY",
  // upstream
  CONNECT_FAILURE: "SLUICE_ERR_CONNECT_FAILURE",
  ENDPOINT_GONE: "SLUICE_ERR_ENDPOINT_GONE",
  PENDING_OVERFLOW: "SLUICE_ERR_PENDING_OVERFLOW",
  // client
  LB_CONFIG: "SLUICE_ERR_LB_CONFIG",
  DNS_NO_ADDRESSES: "SLUICE_ERR_DNS_NO_ADDRESSES",
  DNS_TIMEOUT: "SLUICE_ERR_DNS_TIMEOUT",
  ENDPOINTS_REJECTED: "SLUICE_ERR_ENDPOINTS_REJECTED",
  // sim
  SCENARIO_INVALID: "SLUICE_ERR_SCENARIO_INVALID",
  SCENARIO_EVENT: "SLUICE_ERR_SCENARIO_EVENT",
  SIM_TOO_LARGE: "SLUICE_ERR_SIM_TOO_LARGE",
  // runtime
  RELOAD_REJECTED: "SLUICE_ERR_RELOAD_REJECTED",
  CONFIG_INVALID: "SLUICE_ERR_CONFIG_INVALID",
  XDS_UNMAPPABLE: "SLUICE_ERR_XDS_UNMAPPABLE",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The base of every sluice error. A subclass fixes `name` (its class name, stable across
 * builds), `code`, and `grpcStatus` where a gRPC client of sluice sees the error as a status.
 */
export abstract class SluiceError extends Error {
  abstract readonly code: ErrorCode;
  /** The status a gRPC client sees for this error; undefined where no client does. */
  readonly grpcStatus: StatusCode | undefined = undefined;

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options);
  }
}

/** An API was called with an argument it does not accept; the message names it and what it must be. */
export class InvalidArgumentError extends SluiceError {
  override readonly name = "InvalidArgumentError";
  readonly code = ErrorCode.INVALID_ARGUMENT;
  override readonly grpcStatus = Status.INVALID_ARGUMENT;
}

/** A method was called in a state that does not allow it (before a required call, or twice): a bug in the caller. */
export class InvalidStateError extends SluiceError {
  override readonly name = "InvalidStateError";
  readonly code = ErrorCode.INVALID_STATE;
}

/** One of sluice's own invariants or tables is broken: a bug in sluice, never in a config or a peer. */
export class InternalError extends SluiceError {
  override readonly name = "InternalError";
  readonly code = ErrorCode.INTERNAL;
}

/** A protobuf package sluice loads (the xDS protos, grpc-health-check) lacks a service or method it needs. */
export class ProtoMissingError extends SluiceError {
  override readonly name = "ProtoMissingError";
  readonly code = ErrorCode.PROTO_MISSING;
}

/**
 * The line the CLI prints for an error: `error [CODE]: message` for a SluiceError, the bare
 * message for anything else (whose text has no code to add).
 */
export function formatError(err: unknown): string {
  if (err instanceof SluiceError) return `error [${err.code}]: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** The code to log beside an error's message: a SluiceError's SLUICE_ERR_*, node's errno code (ENOENT), or undefined. */
export function codeOf(err: unknown): string | undefined {
  if (err instanceof SluiceError) return err.code;
  return err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : undefined;
}
