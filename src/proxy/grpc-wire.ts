// gRPC-over-HTTP/2 details the proxy needs without decoding messages: grpc-timeout,
// grpc-message percent-encoding, and trailers-only local statuses.
import type { StatusCode } from "../core/status.js";
import type { Headers } from "../transport/types.js";

const TIMEOUT_UNIT_MS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000001,
};

/**
 * Parses `grpc-timeout` ("100m", "5S": 1-8 digits and a unit). Returns milliseconds,
 * undefined when absent, NaN when malformed (answered with INTERNAL, as grpc-go does).
 */
export function parseGrpcTimeout(value: string | string[] | undefined): number | undefined {
  if (value === undefined) return undefined;
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined) return undefined;
  const unit = TIMEOUT_UNIT_MS[v.charAt(v.length - 1)];
  const digits = v.slice(0, -1);
  if (unit === undefined || digits.length < 1 || digits.length > 8 || !/^[0-9]+$/.test(digits)) return NaN;
  return Number(digits) * unit;
}

/**
 * Whether `path` has the one shape the gRPC protocol allows, `/{service}/{method}` with
 * neither part empty nor holding a '/'. Anything else names no method on any backend.
 */
export function isGrpcPath(path: string): boolean {
  const slash = path.indexOf("/", 1);
  return path.charCodeAt(0) === 0x2f && slash > 1 && slash < path.length - 1 && path.indexOf("/", slash + 1) < 0;
}

/** Percent-encodes grpc-message as the gRPC spec says: outside 0x20-0x7E, and '%'. */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    if (byte < 0x20 || byte > 0x7e || byte === 0x25) out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
    else out += String.fromCharCode(byte);
  }
  return out;
}

/** Headers of a trailers-only response carrying a status (HTTP 200, as gRPC requires). */
export function trailersOnly(code: StatusCode, message: string): Headers {
  return {
    ":status": "200",
    "content-type": "application/grpc",
    "grpc-status": String(code),
    "grpc-message": encodeGrpcMessage(message),
  };
}

/** Trailers carrying a status, for a response whose headers were already sent. */
export function statusTrailers(code: StatusCode, message: string): Headers {
  return { "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) };
}

/** The grpc-status in response headers or trailers, or null when there is none (or it is not a number). */
export function grpcStatusOf(headers: Headers): number | null {
  const v = headers["grpc-status"];
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return null;
  const n = Number(s);
  return Number.isInteger(n) ? n : null;
}
