// Hand-driven fake endpoints and requests for policy tests, and helpers that turn picks
// into shares so distribution tests read as tables.
import assert from "node:assert/strict";
import { seededRandom } from "../../src/core/random.js";
import type { LbEndpoint, Picker, PickRequest, PolicyDeps } from "../../src/balancer/types.js";

/** Endpoints 10.0.0.1:8080, 10.0.0.2:8080, ... with the given weights and zero load. */
export function makeEndpoints(weights: readonly number[], loads: readonly number[] = []): LbEndpoint[] {
  return weights.map((weight, i) => ({
    key: `10.0.0.${i + 1}:8080`,
    address: `10.0.0.${i + 1}`,
    port: 8080,
    weight,
    labels: {},
    load: { activeRequests: loads[i] ?? 0, activeConnections: 0 },
  }));
}

export interface RequestInit {
  readonly headers?: Readonly<Record<string, string>>;
  readonly path?: string;
  readonly authority?: string;
  readonly sourceIp?: string;
}

export function makeRequest(init: RequestInit = {}): PickRequest {
  const headers = init.headers ?? {};
  return {
    header: (name) => headers[name],
    path: init.path ?? "/pkg.Svc/Method",
    authority: init.authority ?? "svc.example:8080",
    sourceIp: init.sourceIp ?? "192.0.2.1",
  };
}

export function makeDeps(seed: number, overrides: Partial<PolicyDeps> = {}): PolicyDeps {
  return { random: seededRandom(seed), loadMetric: "activeRequests", choiceCount: 2, ...overrides };
}

/** The key of the endpoint picked, or throws if the pick did not yield an endpoint. */
export function pickKey(picker: Picker, request: PickRequest = makeRequest()): string {
  const result = picker.pick(request);
  assert.equal(result.kind, "endpoint", `expected an endpoint, got ${JSON.stringify(result)}`);
  return result.kind === "endpoint" ? result.endpoint.key : "";
}

/** Share of `picks` picks that went to each endpoint, in the order of `endpoints`. */
export function shares(picker: Picker, endpoints: readonly LbEndpoint[], picks: number, request: (i: number) => PickRequest = () => makeRequest()): number[] {
  const counts = new Map<string, number>(endpoints.map((e) => [e.key, 0]));
  for (let i = 0; i < picks; i++) {
    const key = pickKey(picker, request(i));
    const seen = counts.get(key);
    assert.ok(seen !== undefined, `picked ${key}, which is not one of the endpoints`);
    counts.set(key, seen + 1);
  }
  return endpoints.map((e) => (counts.get(e.key) ?? 0) / picks);
}

/** Asserts each share is within `tolerance` (absolute) of what is expected. */
export function assertShares(actual: readonly number[], expected: readonly number[], tolerance: number, what: string): void {
  assert.equal(actual.length, expected.length);
  expected.forEach((want, i) => {
    const got = actual[i] ?? NaN;
    assert.ok(
      Math.abs(got - want) <= tolerance,
      `${what}: endpoint ${i} got share ${got.toFixed(4)}, want ${want.toFixed(4)} +- ${tolerance} (all: ${actual.map((s) => s.toFixed(4)).join(", ")})`,
    );
  });
}

export function normalize(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => w / total);
}
