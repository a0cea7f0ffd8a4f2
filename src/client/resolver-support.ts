// What sluice's grpc-js resolvers (dns-resolver.ts, static-resolver.ts) share: gRPC
// statuses for resolution failures, endpoint values, and reading numeric channel options.
import { Metadata, type ChannelOptions, type experimental } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../core/errors.js";
import { Status, type StatusCode } from "../core/status.js";

/** gRPC's default port when a target names none (naming.md: 443, as for https). */
export const DEFAULT_GRPC_PORT = 443;

export type EndpointList = experimental.Endpoint[];

/** What grpc-js's registerResolver takes (its experimental API does not export the name). */
export type ResolverConstructor = Parameters<typeof experimental.registerResolver>[1];

/**
 * A resolution failure as grpc-js's listener takes it. The code is UNAVAILABLE unless
 * said otherwise: the channel hands it to every call that cannot be sent, and gRPC
 * (client-channel semantics) reports an unresolvable target as UNAVAILABLE.
 */
export function resolutionError(details: string, code: StatusCode = Status.UNAVAILABLE): experimental.StatusOr<EndpointList> {
  return { ok: false, error: { code, details, metadata: new Metadata() } };
}

/** One endpoint per address: round_robin spreads over endpoints, pick_first tries them in order. */
export function endpointsOf(hosts: readonly string[], port: number): EndpointList {
  return hosts.map((host) => ({ addresses: [{ host, port }] }));
}

/**
 * A channel option that is a non-negative whole number of milliseconds; `fallback` when
 * unset. A wrong type or value throws an InvalidArgumentError naming the option, which the resolver
 * reports as the resolution error (every call then says what is wrong).
 */
export function msOption(options: ChannelOptions, name: string, fallback: number, min = 0): number {
  const raw: unknown = options[name];
  if (raw === undefined) return fallback;
  if (typeof raw !== "number" || !Number.isInteger(raw) || raw < min) {
    throw new InvalidArgumentError(`channel option ${name} must be a whole number of milliseconds >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** Whether `options` sets `name` (so an explicit value can win over a derived default). */
export function hasOption(options: ChannelOptions, name: string): boolean {
  const raw: unknown = options[name];
  return raw !== undefined;
}

/** A port in a target: 0-65535, digits only. */
export function validPort(port: number | undefined): boolean {
  return port === undefined || (Number.isInteger(port) && port >= 0 && port <= 65535);
}
