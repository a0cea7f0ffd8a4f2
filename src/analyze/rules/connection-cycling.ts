// Connection reuse and cycling:
// - connection-mode-no-cycling: in `mode: connection` each downstream connection is pinned
//   to one endpoint for its whole life; without maxRequestsPerConnection (or the Proxy's
//   downstream.maxConnectionAge) nothing ever ends it, so nothing is ever rebalanced
//   (connection stickiness: new pods get no traffic from existing clients).
// - reuse-disabled: maxRequestsPerConnection 1 opens a new HTTP/2 connection per RPC.
import { formatDuration } from "../../config/duration.js";
import type { Finding } from "../finding.js";
import { clusterWarning, endpointCounts, perHost, type RuleContext, type RuleResult } from "../rule.js";
import { policyFix } from "../fix-text.js";
import { groupByLocation } from "../locate.js";

/** examples/seed.yaml's value: a connection serves 100 RPCs, then the client reconnects and is balanced again. */
export const SUGGESTED_MAX_REQUESTS_PER_CONNECTION = 100;

const FIELD = ["http", "maxRequestsPerConnection"] as const;

export function connectionCyclingRule(ctx: RuleContext): RuleResult {
  const { listener } = ctx.config;
  if (listener.mode !== "connection" || listener.downstream.maxConnectionAgeMs !== null) return { findings: [] };
  const pinnedForLife = [...ctx.config.clusters.values()].filter((c) => c.policy.connectionPool.http.maxRequestsPerConnection === 0);
  const findings: Finding[] = [];
  for (const { loc, clusters } of groupByLocation(pinnedForLife, (c) => ctx.locate.clusterField(c, "connectionPool", FIELD))) {
    const first = clusters[0];
    if (first === undefined) continue;
    const duration = first.policy.connectionPool.tcp.maxConnectionDurationMs;
    const durationNote =
      duration === null
        ? ""
        : ` (tcp.maxConnectionDuration ${formatDuration(duration)} ages only the proxy's own connections to the endpoints; the pin is on the client's connection)`;
    findings.push(
      clusterWarning(
        "connection-mode-no-cycling",
        loc,
        clusters,
        `mode: connection pins each client connection to one of the ${endpointCounts(clusters)} for the connection's whole life, ` +
          `and nothing here ever ends one: maxRequestsPerConnection is 0 (unlimited) and the Proxy sets no downstream.maxConnectionAge${durationNote}. ` +
          "A long-lived gRPC channel is never balanced again: endpoints added later (new pods) get no traffic from existing clients, and a busy client stays on one endpoint (connection stickiness)",
        policyFix(loc, first.host, "connectionPool", FIELD, SUGGESTED_MAX_REQUESTS_PER_CONNECTION) +
          `\n(after ${SUGGESTED_MAX_REQUESTS_PER_CONNECTION} RPCs the proxy sends GOAWAY, RPCs in flight finish, and the client's new connection is pinned to the least-loaded endpoint; or set the Proxy's spec.downstream.maxConnectionAge to cycle by time)`,
      ),
    );
  }
  return { findings };
}

export function reuseDisabledRule(ctx: RuleContext): RuleResult {
  const findings: Finding[] = [];
  const connectionMode = ctx.config.listener.mode === "connection";
  const noReuse = [...ctx.config.clusters.values()].filter((c) => c.policy.connectionPool.http.maxRequestsPerConnection === 1);
  for (const { loc, clusters } of groupByLocation(noReuse, (c) => ctx.locate.clusterField(c, "connectionPool", FIELD))) {
    const first = clusters[0];
    if (first === undefined) continue;
    const rps = perHost(ctx.rps, first.host);
    const which = connectionMode
      ? "every client connection gets GOAWAY after its first RPC and every proxy connection to an endpoint closes after one, so each RPC needs new connections on both sides"
      : "every RPC opens a new HTTP/2 connection from the proxy to the endpoint and closes it afterwards";
    const rate =
      rps === undefined
        ? "one new connection per RPC (give --rps N for the rate)"
        : `at ${rps} RPC/s: ${rps} new connections per second, ${rps * 3600} per hour`;
    const measured = ctx.costOf?.(ctx.config, first);
    findings.push(
      clusterWarning(
        "reuse-disabled",
        loc,
        clusters,
        `maxRequestsPerConnection: 1 disables connection reuse: ${which}; ${rate}, each paying a TCP handshake round trip, ` +
          "the HTTP/2 preface and SETTINGS exchange (and a TLS handshake where TLS is used) and the CPU for them, before the RPC can start" +
          (measured === undefined ? "" : `; measured: ${measured}`),
        policyFix(loc, first.host, "connectionPool", FIELD, SUGGESTED_MAX_REQUESTS_PER_CONNECTION) +
          (connectionMode
            ? "\n(connections still cycle, so clients are rebalanced, at 1/100 of the connection cost)"
            : "\n(in request mode every RPC is balanced on its own: 0, unlimited, is fine too)"),
      ),
    );
  }
  return { findings };
}
