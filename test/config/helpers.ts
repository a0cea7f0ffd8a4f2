// Shared builders for config tests: small YAML documents and loaders that fail loudly.
import assert from "node:assert/strict";
import { formatProblem } from "../../src/config/diagnostics.js";
import { loadConfigText, type ConfigOverrides } from "../../src/config/load.js";
import type { LoadResult, ProxyConfig, Warning } from "../../src/config/types.js";

/** A ServiceEntry for `grpc-service:50051` with three labelled STATIC endpoints. */
export const SERVICE_ENTRY = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: grpc-service}
spec:
  hosts: [grpc-service]
  ports: [{number: 50051, name: grpc, protocol: GRPC}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: v1}}
  - {address: 10.0.0.2, labels: {version: v1}}
  - {address: 10.0.0.3, labels: {version: v2}}
`;

/** A DestinationRule document; `spec` is YAML indented by two spaces under `spec:`. */
export function destinationRule(spec: string, apiVersion = "networking.istio.io/v1"): string {
  return `apiVersion: ${apiVersion}\nkind: DestinationRule\nmetadata: {name: dr}\nspec:\n${spec}`;
}

export function docs(...parts: string[]): string {
  return parts.join("---\n");
}

export function load(text: string, overrides: ConfigOverrides = {}, file = "test.yaml"): LoadResult {
  return loadConfigText(text, file, overrides);
}

export function mustLoad(text: string, overrides: ConfigOverrides = {}): ProxyConfig {
  const r = load(text, overrides);
  if (!r.ok) assert.fail(`expected a valid config, got:\n${r.problems.map(formatProblem).join("\n")}`);
  return r.config;
}

/** Formatted problems (`file:line path: message`); fails when the config loaded. */
export function problems(text: string, overrides: ConfigOverrides = {}, file = "test.yaml"): string[] {
  const r = load(text, overrides, file);
  if (r.ok) assert.fail("expected problems, the config loaded");
  return r.problems.map(formatProblem);
}

export function warnings(result: LoadResult): readonly Warning[] {
  return result.ok ? result.config.warnings : result.warnings;
}

/** Asserts exactly one problem matching `pattern` and returns it. */
export function oneProblem(text: string, pattern: RegExp): string {
  const list = problems(text);
  assert.equal(list.length, 1, `expected one problem, got:\n${list.join("\n")}`);
  const [p] = list;
  assert.match(p!, pattern);
  return p!;
}
