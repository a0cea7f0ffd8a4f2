// least-conn-deprecated: `loadBalancer.simple: LEAST_CONN` anywhere in a DestinationRule
// (trafficPolicy, portLevelSettings, subsets). Istio maps it to LEAST_REQUEST, and so does
// sluice: the name promises "fewest connections", which is not what runs.
import type { YNode } from "../../config/yaml-tree.js";
import type { Finding } from "../finding.js";
import type { RuleContext, RuleResult } from "../rule.js";
import { child, scalar } from "../locate.js";

export function leastConnRule(ctx: RuleContext): RuleResult {
  const findings: Finding[] = [];
  for (const dr of ctx.locate.ofKind("DestinationRule")) {
    const host = scalar(child(child(dr.root, "spec"), "host"));
    visit(dr.root, "", (node, path) => {
      if (!path.endsWith("loadBalancer") || node.t !== "map") return;
      const entry = node.entries.find((e) => e.key === "simple");
      if (entry === undefined || scalar(entry.value) !== "LEAST_CONN") return;
      findings.push({
        rule: "least-conn-deprecated",
        severity: "warning",
        file: dr.file,
        line: entry.keyLine,
        path: `${path}.simple`,
        clusters: [],
        host: typeof host === "string" ? host : null,
        reason:
          "LEAST_CONN is a deprecated alias of LEAST_REQUEST: Istio, and sluice, run LEAST_REQUEST for it. " +
          "In request mode that takes the less loaded of 2 randomly sampled endpoints by active requests, not the endpoint with the fewest connections as the name says " +
          "(in connection mode sluice's LEAST_REQUEST does pin each new connection to the endpoint with the fewest); the deprecated name may be dropped by a later Istio",
        fix: `write the policy that runs, with no change in behaviour:\n  simple: LEAST_REQUEST`,
      });
    });
  }
  return { findings };
}

function visit(node: YNode, path: string, f: (node: YNode, path: string) => void): void {
  f(node, path);
  if (node.t === "map") for (const e of node.entries) visit(e.value, path === "" ? e.key : `${path}.${e.key}`, f);
  else if (node.t === "seq") node.items.forEach((item, i) => visit(item, `${path}[${i}]`, f));
}
