// max-requests-below-concurrency: http2MaxRequests (the cluster's circuit breaker on RPCs in
// flight) below the concurrency the service is expected to see (--concurrency). Past the
// limit the proxy fails RPCs at once with UNAVAILABLE "upstream overflow" (Envoy's
// upstream_rq_pending_overflow), however idle the endpoints are.
import type { Finding, RuleContext, RuleResult } from "../finding.js";
import { perHost } from "../finding.js";
import { policyFix } from "../fix-text.js";

/** Suggested limit: the expected concurrency plus a quarter for bursts. */
const HEADROOM = 1.25;

export function concurrencyRule(ctx: RuleContext): RuleResult {
  if (ctx.concurrency.size === 0) {
    return { findings: [], notes: ["max-requests-below-concurrency: not checked (give --concurrency N, the expected concurrent RPCs to a service)"] };
  }
  const findings: Finding[] = [];
  for (const c of ctx.config.clusters.values()) {
    const expected = perHost(ctx.concurrency, c.host);
    const limit = c.policy.connectionPool.http.http2MaxRequests;
    if (expected === undefined || limit >= expected) continue;
    const loc = ctx.locate.clusterField(c, "connectionPool", ["http", "http2MaxRequests"]);
    const suggested = Math.ceil(expected * HEADROOM);
    findings.push({
      rule: "max-requests-below-concurrency",
      severity: "warning",
      file: loc.file,
      line: loc.line,
      path: loc.path,
      clusters: [c.name],
      host: c.host,
      reason:
        `http2MaxRequests ${limit} is below the expected ${expected} concurrent RPCs: with ${expected} in flight, ${expected - limit} of them ` +
        `(${Math.round((100 * (expected - limit)) / expected)}%) fail at once with UNAVAILABLE "upstream overflow: http2MaxRequests limit (${limit}) reached", ` +
        `however idle the ${c.endpoints.length} endpoint(s) are`,
      fix: policyFix(loc, c.host, "connectionPool", ["http", "http2MaxRequests"], suggested) + `\n(the expected ${expected} plus 25% for bursts)`,
    });
  }
  return { findings };
}
