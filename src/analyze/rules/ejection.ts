// ejection-impossible: outlier detection counts errors, but maxEjectionPercent lets it eject
// no endpoint of a cluster this size. The cap is the outlier detector's own
// (src/resilience/outlier-detector.ts), so this rule and the proxy cannot disagree.
import type { Cluster, OutlierDetectionSettings } from "../../config/types.js";
import { maxEjectedEndpoints } from "../../resilience/outlier-detector.js";
import type { Finding } from "../finding.js";
import { clusterWarning, endpointCounts, type RuleContext, type RuleResult } from "../rule.js";
import { policyFix } from "../fix-text.js";
import { groupByLocation } from "../locate.js";

export function ejectionRule(ctx: RuleContext): RuleResult {
  const latencyRule = ctx.config.listener.latencyOutlier !== null;
  const stuck = [...ctx.config.clusters.values()].filter((c) => {
    const od = c.policy.outlierDetection;
    const n = c.endpoints.length;
    return od !== null && n > 0 && detects(od, latencyRule) && maxEjectedEndpoints(n, od.maxEjectionPercent) === 0;
  });
  const findings: Finding[] = [];
  for (const { loc, clusters } of groupByLocation(stuck, (c) => ctx.locate.clusterField(c, "outlierDetection", ["maxEjectionPercent"]))) {
    const first = clusters[0];
    if (first === undefined) continue;
    const pct = first.policy.outlierDetection?.maxEjectionPercent ?? 0;
    const smallest = Math.max(...clusters.map(smallestPercentEjectingOne));
    const dns = clusters.some((c) => c.resolution === "DNS") ? " (a DNS host counts as the endpoints written in its ServiceEntry)" : "";
    findings.push(
      clusterWarning(
        "ejection-impossible",
        loc,
        clusters,
        `maxEjectionPercent ${pct} lets outlier detection eject none of the ${endpointCounts(clusters)}${dns}: failures are counted, ` +
          "but a failing endpoint is never taken out of balancing and keeps getting its share of RPCs (each refusal counts in ejections_overflow)" +
          (Number.isFinite(smallest) ? `; the smallest maxEjectionPercent that allows one ejection here is ${smallest}` : ""),
        policyFix(loc, first.host, "outlierDetection", ["maxEjectionPercent"], Math.max(Number.isFinite(smallest) ? smallest : 10, 10)) +
          "\n(Istio's default is 10; or remove outlierDetection if no ejection is wanted)",
      ),
    );
  }
  return { findings };
}

/** Whether any of the detector's rules is on (0 switches a consecutive-errors rule off). */
function detects(od: OutlierDetectionSettings, latencyRule: boolean): boolean {
  return (
    od.consecutive5xxErrors > 0 ||
    od.consecutiveGatewayErrors > 0 ||
    (od.splitExternalLocalOriginErrors && od.consecutiveLocalOriginFailures > 0) ||
    latencyRule
  );
}

/** The smallest whole percent for which the detector may eject one of the cluster's endpoints (Infinity: none). */
export function smallestPercentEjectingOne(c: Cluster): number {
  for (let p = 1; p <= 100; p++) if (maxEjectedEndpoints(c.endpoints.length, p) >= 1) return p;
  return Infinity;
}
