// ejection-impossible: outlier detection counts errors, but maxEjectionPercent lets it eject
// no endpoint of a cluster this size. The cap is the outlier detector's own
// (src/resilience/outlier-detector.ts), so this rule and the proxy cannot disagree.
import type { OutlierDetectionSettings } from "../../config/types.js";
import { maxEjectedEndpoints } from "../../resilience/outlier-detector.js";
import type { Finding, RuleContext, RuleResult } from "../finding.js";
import { policyFix } from "../fix-text.js";

export function ejectionRule(ctx: RuleContext): RuleResult {
  const findings: Finding[] = [];
  for (const c of ctx.config.clusters.values()) {
    const od = c.policy.outlierDetection;
    const n = c.endpoints.length;
    if (od === null || n === 0 || !detects(od, ctx.config.listener.latencyOutlier !== null)) continue;
    const pct = od.maxEjectionPercent;
    if (maxEjectedEndpoints(n, pct) > 0) continue;
    const smallest = smallestPercentEjectingOne(n);
    const loc = ctx.locate.clusterField(c, "outlierDetection", ["maxEjectionPercent"]);
    const dns = c.resolution === "DNS" ? " (a DNS host counts as the endpoints written in its ServiceEntry)" : "";
    findings.push({
      rule: "ejection-impossible",
      severity: "warning",
      file: loc.file,
      line: loc.line,
      path: loc.path,
      clusters: [c.name],
      host: c.host,
      reason:
        `maxEjectionPercent ${pct} lets outlier detection eject 0 of the ${n} endpoint(s)${dns}: failures are counted, ` +
        "but a failing endpoint is never taken out of balancing and keeps getting its share of RPCs (each refusal counts as ejections_overflow)" +
        (smallest === null ? "" : `; the smallest maxEjectionPercent that allows one ejection with ${n} endpoint(s) is ${smallest}`),
      fix: policyFix(loc, c.host, "outlierDetection", ["maxEjectionPercent"], Math.max(smallest ?? 10, 10)) + "\n(Istio's default is 10; or remove outlierDetection if no ejection is wanted)",
    });
  }
  return { findings };
}

/** Whether any of the detector's rules is on (0 switches a consecutive-errors rule off). */
function detects(od: OutlierDetectionSettings, latencyRule: boolean): boolean {
  return od.consecutive5xxErrors > 0 || od.consecutiveGatewayErrors > 0 || (od.splitExternalLocalOriginErrors && od.consecutiveLocalOriginFailures > 0) || latencyRule;
}

/** The smallest whole percent for which the detector may eject one of `n` endpoints. */
export function smallestPercentEjectingOne(n: number): number | null {
  for (let p = 1; p <= 100; p++) if (maxEjectedEndpoints(n, p) >= 1) return p;
  return null;
}
