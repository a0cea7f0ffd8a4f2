// Configs for simulator tests: examples/seed.yaml's DestinationRule, or one with the traffic
// policy given, around a service the simulator fills with its own backends.
import { readFileSync } from "node:fs";
import { loadConfigText } from "../../src/config/load.js";
import type { Cluster, ProxyConfig } from "../../src/config/types.js";
import { SEED_CONFIG } from "../../src/cli/seed-config.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";

export interface SimConfig {
  readonly config: ProxyConfig;
  readonly cluster: Cluster;
}

function firstCluster(text: string, file: string): SimConfig {
  const r = loadConfigText(text, file);
  if (!r.ok) throw new Error(`config problems: ${JSON.stringify(r.problems)}`);
  return { config: r.config, cluster: [...r.config.clusters.values()][0]! };
}

export function seedConfig(): SimConfig {
  return firstCluster(readFileSync(SEED_CONFIG, "utf8"), SEED_CONFIG);
}

/**
 * `trafficPolicy`: the DestinationRule's trafficPolicy fields, indented by 4 spaces; `proxySpec`:
 * lines of a Proxy resource's spec, indented by 2 (none: no Proxy resource).
 */
export function configWith(trafficPolicy: string, proxySpec?: string): SimConfig {
  const proxy = proxySpec === undefined ? "" : `${listenerYaml(proxySpec)}\n---\n`;
  return firstCluster(`${proxy}${serviceEntryYaml("svc", [50051])}\n---\n${destinationRuleYaml("svc", trafficPolicy)}`, "test.yaml");
}
