// keepalive-too-frequent: the clients' keepalive (--client-options) against the proxy's
// downstream keepalive enforcement (the Proxy resource's spec.downstream.keepalive, gRFC A8
// defaults: one ping per 5 minutes while calls are open, none without calls). An early
// ping is a strike; the third strike gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings"
// (src/proxy/downstream-lifetime.ts).
import { recommendedChannelOptions } from "../../client/channel-options.js";
import { formatDuration } from "../../config/duration.js";
import { MAX_TIMER_MS } from "../../core/clock.js";
import { tooManyPingsAfter } from "../../core/keepalive.js";
import type { Finding } from "../finding.js";
import type { RuleContext, RuleResult } from "../rule.js";
import type { ClientOptions } from "../client-options.js";

/** gRFC A8: while no call is open, a server that does not permit it allows one ping per 2 hours. */
const NO_CALLS_PING_INTERVAL_MS = 2 * 60 * 60_000;
/** Strikes forgiven before GOAWAY (downstream-lifetime.ts MAX_PING_STRIKES). */
const MAX_PING_STRIKES = 2;

export function keepaliveRule(ctx: RuleContext): RuleResult {
  const client = ctx.client;
  if (client === null)
    return { findings: [], notes: ["keepalive-too-frequent: not checked (give --client-options FILE.json with the clients' channel options)"] };
  const time = client.keepaliveTimeMs?.value ?? null;
  // grpc-js sends no keepalive pings unless keepalive_time_ms is set (> 0).
  if (client.keepaliveTimeMs === null || time === null || time <= 0) return { findings: [] };
  const server = ctx.config.listener.downstream.keepalive;
  const min = server.minPingIntervalMs;
  const serverWhere = where(ctx, ["downstream", "keepalive", "minPingInterval"]);
  const recommended = recommendedChannelOptions({ serverMinPingInterval: min, serverPermitsWithoutCalls: server.permitWithoutCalls });
  const goaway =
    `a ping less than the minimum after the last acceptable one is a strike, and the ${ordinal(MAX_PING_STRIKES + 1)} strike gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings": ` +
    "the proxy closes the connection, RPCs still in flight on it fail, and the client reconnects (grpc-js then doubles its keepalive time for that address)";
  const findings: Finding[] = [];
  if (time > MAX_TIMER_MS) {
    findings.push(
      finding(
        client,
        client.keepaliveTimeMs.line,
        "grpc.keepalive_time_ms",
        `${time} ms is longer than Node.js's longest timer (${MAX_TIMER_MS} ms, about 24.8 days): grpc-js hands it to setTimeout as it is, ` +
          `which then fires after 1 ms, so the client pings about every millisecond; ${goaway}, within milliseconds of every connection opening`,
        `in ${client.file}: "grpc.keepalive_time_ms": ${String(recommended["grpc.keepalive_time_ms"])} (the proxy's minimum plus a margin for network delay), or leave it out not to ping`,
      ),
    );
    return { findings };
  }
  if (time < min) {
    findings.push(
      finding(
        client,
        client.keepaliveTimeMs.line,
        "grpc.keepalive_time_ms",
        `the client pings every ${formatDuration(time)} but the proxy permits one ping per ${formatDuration(min)} (${serverWhere}); ${goaway}. ` +
          `On a connection where the proxy sends nothing between pings, that happens ${formatDuration(tooManyPingsAfter(time, min) ?? 0)} after it opens, then again on every new connection`,
        `in ${client.file}: "grpc.keepalive_time_ms": ${String(recommended["grpc.keepalive_time_ms"])} (the proxy's minimum plus a margin for network delay)\n` +
          `or, to keep pinging every ${formatDuration(time)}, lower the proxy's minimum in the Proxy resource (below the client's time, for network delay):\n  spec:\n    downstream:\n      keepalive:\n        minPingInterval: ${formatDuration(serverMinFor(time))}`,
      ),
    );
  }
  const permit = client.permitWithoutCalls;
  const idleMin = Math.max(min, NO_CALLS_PING_INTERVAL_MS);
  if (permit?.value === true && !server.permitWithoutCalls && time < idleMin) {
    findings.push(
      finding(
        client,
        permit.line,
        "grpc.keepalive_permit_without_calls",
        `the client keeps pinging every ${formatDuration(time)} while no RPC is open, but the proxy does not permit pings without calls ` +
          `(${where(ctx, ["downstream", "keepalive", "permitWithoutCalls"])}): then it allows one ping per ${formatDuration(idleMin)}; ${goaway}. ` +
          `Every idle connection is closed ${formatDuration(tooManyPingsAfter(time, idleMin) ?? 0)} into its idleness`,
        `in ${client.file}: "grpc.keepalive_permit_without_calls": 0\n` +
          `or let idle connections ping in the Proxy resource:\n  spec:\n    downstream:\n      keepalive:\n        permitWithoutCalls: true` +
          (time < min ? `\n        minPingInterval: ${formatDuration(serverMinFor(time))}` : ""),
      ),
    );
  }
  return { findings };
}

function finding(client: ClientOptions, line: number, path: string, reason: string, fix: string): Finding {
  return { rule: "keepalive-too-frequent", severity: "warning", file: client.file, line, path, clusters: [], host: null, reason, fix };
}

/** "the Proxy resource at file:line" or "gRPC's default" for where the proxy's setting comes from. */
function where(ctx: RuleContext, field: readonly string[]): string {
  const loc = ctx.locate.proxyField(field);
  if (loc === null || !loc.set) return "gRPC's default; no Proxy resource sets it";
  return `${loc.file}:${loc.line} ${loc.path}`;
}

/** A server minimum a client pinging every `time` stays above despite network delay: 10% less, in whole seconds when possible. */
function serverMinFor(time: number): number {
  const lower = Math.floor(time * 0.9);
  return lower >= 1000 ? Math.floor(lower / 1000) * 1000 : Math.max(1, lower);
}

function ordinal(n: number): string {
  return n === 1 ? "first" : n === 2 ? "second" : n === 3 ? "third" : `${n}th`;
}
