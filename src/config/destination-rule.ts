// DestinationRule spec (istio destination_rule.proto): which policy applies to a host and
// its subsets. Cross-resource checks (is the host defined?) happen in model.ts.
import type { MapReader } from "./reader.js";
import type { ResourceMeta } from "./resource-meta.js";
import { parseTrafficPolicy, type ParsedPolicy } from "./traffic-policy.js";

export interface ParsedSubset {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly policy: ParsedPolicy | undefined;
  readonly line: number;
}

export interface ParsedDestinationRule {
  readonly kind: "DestinationRule";
  readonly meta: ResourceMeta;
  readonly host: string;
  readonly hostLine: number;
  readonly policy: ParsedPolicy | undefined;
  readonly subsets: readonly ParsedSubset[];
}

export function parseDestinationRule(r: MapReader, meta: ResourceMeta): ParsedDestinationRule | undefined {
  const host = r.string("host", { required: true });
  const policyReader = r.map("trafficPolicy");
  const policy = policyReader === undefined ? undefined : parseTrafficPolicy(policyReader);
  const subsets: ParsedSubset[] = [];
  for (const s of r.mapList("subsets")) {
    const name = s.string("name", { required: true });
    const labels = s.stringMap("labels") ?? {};
    const tp = s.map("trafficPolicy", "spec.trafficPolicy");
    const subsetPolicy = tp === undefined ? undefined : parseTrafficPolicy(tp);
    s.finish();
    if (name === undefined) continue;
    if (subsets.some((x) => x.name === name)) {
      s.error("name", `subset ${JSON.stringify(name)} is defined twice in this DestinationRule`);
      continue;
    }
    subsets.push({ name, labels, policy: subsetPolicy, line: s.line });
  }
  r.stringList("exportTo");
  parseWorkloadSelector(r);
  r.finish();
  if (host === undefined) return undefined;
  return { kind: "DestinationRule", meta, host, hostLine: r.lineOf("host"), policy, subsets };
}

/** Shared by DestinationRule and ServiceEntry; support.ts marks it "warn" in both. */
export function parseWorkloadSelector(r: MapReader): void {
  const ws = r.map("workloadSelector");
  if (ws === undefined) return;
  ws.stringMap("matchLabels");
  ws.finish();
}
