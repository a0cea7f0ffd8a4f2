// The built-in scenarios: the connection-mode story of examples/seed.yaml (three clients pinned
// to pod 1, pods 2 and 3 join later) and the events operators tune for.
import type { Scenario } from "./scenario.js";

/** What every built-in scenario starts from: 3 clients x 1,000 RPS on 3 pods. */
export const BASE: Omit<Scenario, "name" | "description"> = {
  durationMs: 60_000,
  bucketMs: 1000,
  measureFromMs: 0,
  clients: { count: 3, channelsEach: 1, load: { kind: "rate", rps: 1000, arrival: "poisson" }, rampMs: 0 },
  backends: { count: 3, serviceTime: { kind: "lognormal", medianMs: 4, p99Ms: 20 }, concurrency: Infinity },
  events: [],
  layer: "proxy-request",
  clientPolicy: "round_robin",
  connectMs: 1,
  discoveryDelayMs: 30_000,
  failMs: 1,
  seed: 1,
};

export const SCENARIOS: Readonly<Record<string, Scenario>> = {
  seed: {
    ...BASE,
    name: "seed",
    description:
      "Pinned connections rebalanced by cycling: three clients connect while only pod 1 is up (all on pod 1); pods 2 and 3 come up at 1s; " +
      "connections cycle at maxRequestsPerConnection and LEAST_REQUEST sends each new one to the pod with the fewest.",
    durationMs: 20_000,
    bucketMs: 250,
    backends: { ...BASE.backends, count: 1 },
    events: [{ atMs: 1000, kind: "add", count: 2 }],
    layer: "proxy-connection",
  },
  "scale-out": {
    ...BASE,
    name: "scale-out",
    description: "3 pods under load from 3 clients with 4 channels each; a 4th pod is added at 20s. How long until it carries its share?",
    clients: { ...BASE.clients, channelsEach: 4 },
    bucketMs: 500,
    events: [{ atMs: 20_000, kind: "add", count: 1 }],
    layer: "proxy-connection",
  },
  "slow-pod": {
    ...BASE,
    name: "slow-pod",
    description: "pod-2 becomes 4 times slower at 10s. A policy that sees load (LEAST_REQUEST) sends it less; ROUND_ROBIN does not.",
    durationMs: 40_000,
    measureFromMs: 10_000,
    events: [{ atMs: 10_000, kind: "slow", backend: "pod-2", factor: 4 }],
  },
  "failing-pod": {
    ...BASE,
    name: "failing-pod",
    description: "pod-3 fails every RPC with UNAVAILABLE from 10s to 70s. Outlier detection ejects it; the failed RPCs are counted.",
    durationMs: 120_000,
    events: [
      { atMs: 10_000, kind: "fail", backend: "pod-3", errorRate: 1 },
      { atMs: 70_000, kind: "fail", backend: "pod-3", errorRate: 0 },
    ],
  },
  "rolling-restart": {
    ...BASE,
    name: "rolling-restart",
    description: "A rolling update: pod-1, pod-2 and pod-3 are replaced in turn (each new pod up 5s after the old one goes), 15s apart.",
    clients: { ...BASE.clients, channelsEach: 4 },
    bucketMs: 500,
    events: [
      { atMs: 10_000, kind: "restart", backend: "pod-1", downMs: 5000 },
      { atMs: 25_000, kind: "restart", backend: "pod-2", downMs: 5000 },
      { atMs: 40_000, kind: "restart", backend: "pod-3", downMs: 5000 },
    ],
    layer: "proxy-connection",
  },
};
