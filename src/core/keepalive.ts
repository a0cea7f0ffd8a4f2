// gRPC's keepalive and connection-age rules (gRFC A8, A9), as pure functions: the proxy's
// downstream lifetime enforces them, the simulator cycles connections by them, and
// `sluice analyze` explains when a client's settings run into them.
import type { Random } from "./random.js";

/** Strikes forgiven before GOAWAY: the third early ping closes the connection (grpc-go, grpc-java). */
export const MAX_PING_STRIKES = 2;
/** Without an RPC in flight (and permitWithoutCalls false) a client may ping this often (gRFC A8). */
export const NO_CALLS_PING_INTERVAL_MS = 2 * 60 * 60_000;
/** maxConnectionAge is spread by +-10% so connections opened together do not all cycle together. */
const AGE_JITTER = 0.1;

/** The shortest interval between a client's pings that is not a strike (gRFC A8). */
export function allowedPingIntervalMs(activeStreams: number, minPingIntervalMs: number, permitWithoutCalls: boolean): number {
  return activeStreams > 0 || permitWithoutCalls ? minPingIntervalMs : Math.max(minPingIntervalMs, NO_CALLS_PING_INTERVAL_MS);
}

/**
 * When a client pinging every `pingEveryMs` on an otherwise silent connection gets GOAWAY
 * too_many_pings, in ms from the connection's start, when pings under `allowedMs` apart are
 * strikes (the proxy's rule: an on-time ping moves the mark but forgives no strike); null if never.
 * For `sluice analyze`'s explanation.
 */
export function tooManyPingsAfter(pingEveryMs: number, allowedMs: number): number | null {
  if (!(pingEveryMs > 0) || pingEveryMs >= allowedMs) return null;
  let lastValid = 0;
  let strikes = 0;
  for (let k = 1; k <= 10_000; k++) {
    const t = k * pingEveryMs;
    if (t - lastValid >= allowedMs) lastValid = t;
    else if (++strikes > MAX_PING_STRIKES) return t;
  }
  return null;
}

/** When a connection opened now reaches maxConnectionAge: the age +-10% (gRFC A9). */
export function jitteredAge(ageMs: number, random: Random): number {
  return ageMs * (1 - AGE_JITTER + 2 * AGE_JITTER * random());
}
