// max-requests-below-concurrency: http2MaxRequests (the cluster's circuit breaker on RPCs in
// flight) below the concurrency the service is expected to see (--concurrency). Past the
// limit the proxy fails RPCs at once with UNAVAILABLE "upstream overflow" (Envoy's
// upstream_rq_pending_overflow), however idle the endpoints are.
import type { Finding } from "../finding.js";
import { clusterWarning, endpointCounts, perHost, type RuleContext, type RuleResult } from "../rule.js";
import { policyFix } from "../fix-text.js";
import { groupByLocation } from "../locate.js";

/** Suggested limit: the expected concurrency plus a quarter for bursts. */
const HEADROOM = 1.25;

const FIELD = ["http", "http2MaxRequests"] as const;

export function concurrencyRule(ctx: RuleContext): RuleResult {
  if (ctx.concurrency.size === 0) {
    return { findings: [], notes: ["max-requests-below-concurrency: not checked (give --concurrency N, the expected concurrent RPCs to a service)"] };
  }
  const tooLow = [...ctx.config.clusters.values()].filter((c) => {
    const expected = perHost(ctx.concurrency, c.host);
    return expected !== undefined && c.policy.connectionPool.http.http2MaxRequests < expected;
  });
  const findings: Finding[] = [];
  for (const { loc, clusters } of groupByLocation(tooLow, (c) => ctx.locate.clusterField(c, "connectionPool", FIELD))) {
    const first = clusters[0];
    const expected = first === undefined ? undefined : perHost(ctx.concurrency, first.host);
    if (first === undefined || expected === undefined) continue;
    const limit = first.policy.connectionPool.http.http2MaxRequests;
    const suggested = Math.ceil(expected * HEADROOM);
    findings.push(
      clusterWarning(
        "max-requests-below-concurrency",
        loc,
        clusters,
        `http2MaxRequests ${limit} is below the expected ${expected} concurrent RPCs to ${first.host}: with ${expected} in flight, ${expected - limit} of them ` +
          `(${Math.round((100 * (expected - limit)) / expected)}%) fail at once with UNAVAILABLE "upstream overflow: http2MaxRequests limit (${limit}) reached", ` +
          `however idle ${endpointCounts(clusters) === "1 endpoint" ? "the 1 endpoint is" : `the ${endpointCounts(clusters)} are`}`,
        policyFix(loc, first.host, "connectionPool", FIELD, suggested) + `\n(the expected ${expected} plus 25% for bursts)`,
      ),
    );
  }
  return { findings };
}
