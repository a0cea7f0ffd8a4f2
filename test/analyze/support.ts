// Builds configs for the analyzer's tests: a ServiceEntry with `endpoints` pods, a
// DestinationRule with the given trafficPolicy / subsets YAML, and an optional Proxy spec.
import { analyzeConfig, type Analysis, type AnalyzeOptions } from "../../src/analyze/analyze.js";
import { loadConfigSources } from "../../src/config/load.js";

export interface TestConfig {
  /** YAML under the DestinationRule's spec (indented by 2), e.g. "trafficPolicy:\n  ...". */
  readonly dr?: string;
  /** YAML under the Proxy's spec (indented by 2); no Proxy resource when undefined. */
  readonly proxy?: string;
  readonly endpoints?: number;
}

export const FILE = "grpc.yaml";

export function configText(c: TestConfig): string {
  const n = c.endpoints ?? 3;
  const endpoints = Array.from(
    { length: n },
    (_, i) => `    - {address: 10.0.0.${i + 1}, labels: {pod: p${i + 1}, version: ${i % 2 === 0 ? "v1" : "v2"}}}`,
  ).join("\n");
  const docs = [
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: grpc-service
spec:
  hosts: [grpc-service]
  ports:
    - {number: 50051, name: grpc, protocol: GRPC}
  resolution: STATIC
  endpoints:
${endpoints}`,
  ];
  if (c.dr !== undefined) {
    docs.push(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: grpc-service
spec:
  host: grpc-service
${indent(c.dr, 2)}`);
  }
  if (c.proxy !== undefined) {
    docs.push(`apiVersion: sluice.dev/v1alpha1
kind: Proxy
metadata:
  name: sluice
spec:
${indent(c.proxy, 2)}`);
  }
  return docs.join("\n---\n") + "\n";
}

export function analyzeText(c: TestConfig, options: AnalyzeOptions = {}): Analysis & { text: string } {
  const text = configText(c);
  const sources = [{ file: FILE, text }];
  const { result } = loadConfigSources(sources);
  if (!result.ok) throw new Error(`test config does not load: ${JSON.stringify(result.problems)}\n${text}`);
  return { ...analyzeConfig(result.config, sources, options), text };
}

/** The 1-based line of the first line of `text` containing `needle`. */
export function lineOf(text: string, needle: string): number {
  const i = text.split("\n").findIndex((l) => l.includes(needle));
  if (i < 0) throw new Error(`${needle} not in the config`);
  return i + 1;
}

function indent(text: string, n: number): string {
  return text
    .trim()
    .split("\n")
    .map((l) => " ".repeat(n) + l)
    .join("\n");
}
