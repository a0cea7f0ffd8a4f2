// Keepalive channel options that a server will not punish (gRFC A8).
//
// Keepalive pings find a dead connection (a pod gone without a FIN, a NAT that dropped
// the flow) within keepalive_time + keepalive_timeout instead of the TCP timeout's
// minutes, so the LB stops sending calls into it. But servers limit pings: every gRPC
// server enforces a minimum interval between the pings it receives (C-core and Java:
// 5 minutes by default; Go: EnforcementPolicy.MinTime, 5 minutes), and, unless it
// permits pings without calls, allows only one ping per 2 hours while no call is open.
// An earlier ping is a strike; after max_ping_strikes (C-core: 2) the server sends
// GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and closes the connection: calls in flight on
// it fail (grpc-js reports RESOURCE_EXHAUSTED) and the client reconnects. grpc-js then doubles that
// subchannel's keepalive time (A8), so a wrong setting costs a few dropped connections
// per address before it settles. The client cannot see the server's limit, so it must be
// told; these options are derived from it:
//   - grpc.keepalive_time_ms = the server's minimum plus a margin (10%, at least 1 s): the
//     server measures between pings as they arrive, and network delay can bring two
//     pings closer together than the client sent them. grpc-js times the next ping from
//     the previous ping's ack, which only adds to the spacing.
//   - grpc.keepalive_timeout_ms = A8's default, 20 s (how long an unacknowledged ping
//     may take before the connection is considered dead).
//   - grpc.keepalive_permit_without_calls = 1 only if the server permits it too
//     (C-core/Java keepalive_permit_without_calls, Go PermitWithoutStream); otherwise
//     an idle connection's pings would each be a strike under the 2-hour rule.
import type { ChannelOptions } from "@grpc/grpc-js";
import { InvalidArgumentError } from "../core/errors.js";

/** gRPC servers' default minimum interval between received pings (A8): 5 minutes. */
export const DEFAULT_SERVER_MIN_PING_INTERVAL_MS = 5 * 60_000;
/** A8's default keepalive_timeout: 20 s. */
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 20_000;
const MARGIN_FRACTION = 0.1;
const MIN_MARGIN_MS = 1000;

export interface KeepaliveServerPolicy {
  /**
   * The server's minimum time between pings, ms (C-core / grpcio:
   * grpc.http2.min_ping_interval_without_data_ms; Go: keepalive.EnforcementPolicy.MinTime;
   * Java: permitKeepAliveTime). Default 5 minutes, every server's default.
   */
  readonly serverMinPingInterval?: number;
  /** Whether the server accepts pings while no call is open (default false, every server's default). */
  readonly serverPermitsWithoutCalls?: boolean;
  /** How long to wait for a ping's ack, ms (default 20 s). */
  readonly keepaliveTimeout?: number;
}

function positiveMs(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new InvalidArgumentError(`recommendedChannelOptions: ${name} must be a whole number of milliseconds > 0, got ${value}`);
  }
  return value;
}

/** Keepalive channel options that stay within the server's ping policy (see the top of this file). */
export function recommendedChannelOptions(policy: KeepaliveServerPolicy = {}): ChannelOptions {
  const min = positiveMs("serverMinPingInterval", policy.serverMinPingInterval ?? DEFAULT_SERVER_MIN_PING_INTERVAL_MS);
  const timeout = positiveMs("keepaliveTimeout", policy.keepaliveTimeout ?? DEFAULT_KEEPALIVE_TIMEOUT_MS);
  return {
    "grpc.keepalive_time_ms": min + Math.max(MIN_MARGIN_MS, Math.ceil(min * MARGIN_FRACTION)),
    "grpc.keepalive_timeout_ms": timeout,
    "grpc.keepalive_permit_without_calls": policy.serverPermitsWithoutCalls === true ? 1 : 0,
  };
}
