import { test } from "node:test";
import assert from "node:assert/strict";
import { parseScenario, resolveScenario, ScenarioError } from "../../src/sim/scenario-file.js";
import { SCENARIOS } from "../../src/sim/scenarios.js";

test("a scenario file sets every part; what it leaves out comes from its base", () => {
  const s = parseScenario(
    `
name: canary
base: scale-out
duration: 2m
bucket: 250ms
measureFrom: 30s
layer: client
clientPolicy: least_request
discoveryDelay: 0s
clients: { count: 5, channels: 2, rps: 200, arrival: uniform, ramp: 5s }
backends:
  count: 4
  serviceTime: { distribution: exponential, mean: 7ms }
  concurrency: 32
events:
  - { at: 10s, add: 2 }
  - { at: 20s, slow: pod-2, factor: 3 }
  - { at: 30s, fail: pod-3, errorRate: 0.25 }
  - { at: 40s, remove: pod-1 }
  - { at: 50s, restart: pod-4, down: 5s }
`,
    "canary.yaml",
  );
  assert.equal(s.name, "canary");
  assert.equal(s.durationMs, 120_000);
  assert.equal(s.bucketMs, 250);
  assert.equal(s.measureFromMs, 30_000);
  assert.equal(s.layer, "client");
  assert.equal(s.clientPolicy, "least_request");
  assert.equal(s.discoveryDelayMs, 0);
  assert.deepEqual(s.clients, { count: 5, channelsEach: 2, load: { kind: "rate", rps: 200, arrival: "uniform" }, rampMs: 5000 });
  assert.deepEqual(s.backends, { count: 4, serviceTime: { kind: "exponential", meanMs: 7 }, concurrency: 32 });
  assert.deepEqual(s.events, [
    { atMs: 10_000, kind: "add", count: 2 },
    { atMs: 20_000, kind: "slow", backend: "pod-2", factor: 3 },
    { atMs: 30_000, kind: "fail", backend: "pod-3", errorRate: 0.25 },
    { atMs: 40_000, kind: "remove", backend: "pod-1" },
    { atMs: 50_000, kind: "restart", backend: "pod-4", downMs: 5000 },
  ]);
  // Left out: from scale-out.
  assert.equal(s.connectMs, SCENARIOS["scale-out"]!.connectMs);
  assert.equal(s.seed, SCENARIOS["scale-out"]!.seed);
});

test("JSON works too, and a closed loop is concurrency", () => {
  const s = parseScenario(JSON.stringify({ duration: "10s", clients: { concurrency: 8 } }), "s.json");
  assert.deepEqual(s.clients.load, { kind: "concurrency", inFlight: 8 });
  assert.equal(s.durationMs, 10_000);
});

test("every problem is reported at once, each with its field path", () => {
  const text = `
duration: soon
layer: dns
colour: blue
clients: { rps: 10, concurrency: 4, count: 0 }
backends: { serviceTime: { distribution: lognormal, median: 10ms, p99: 5ms } }
events:
  - { at: 5s, add: 1, remove: pod-1 }
  - { add: 1 }
  - { at: 1s, slow: server-2, factor: 2 }
  - { at: 1h, fail: pod-1 }
  - 7
`;
  assert.throws(
    () => parseScenario(text, "bad.yaml"),
    (err: unknown) => {
      assert.ok(err instanceof ScenarioError);
      const m = err.message;
      for (const want of [
        "bad.yaml: duration: must be a duration",
        "bad.yaml: layer: must be one of proxy-request, proxy-connection, client, l4",
        "bad.yaml: colour: unknown field",
        "bad.yaml: clients: give rps (open loop) or concurrency (closed loop), not both",
        "bad.yaml: clients.count: must be an integer from 1",
        "bad.yaml: backends.serviceTime.p99: must be above the median",
        "bad.yaml: events[0]: needs exactly one of add, remove, slow, fail, restart",
        "bad.yaml: events[1].at: is required",
        'bad.yaml: events[2].slow: names a backend like "pod-2"',
        "bad.yaml: events[3].at: is past the scenario's duration",
        "bad.yaml: events[4]: must be a mapping",
      ]) {
        assert.ok(m.includes(want), `missing ${JSON.stringify(want)} in:\n${m}`);
      }
      return true;
    },
  );
});

test("runs too big or meaningless are refused: too many buckets, channels or RPCs, a bucket longer than the run, measuring from after the end, a step under 1 µs", () => {
  assert.throws(() => parseScenario("duration: 1h\nbucket: 1ms\n", "x.yaml"), /x\.yaml: bucket: makes 3,600,000 buckets; at most 100,000/);
  assert.throws(
    () => parseScenario("clients: { count: 1000, channels: 1000 }\n", "x.yaml"),
    /x\.yaml: clients: count x channels is 1,000,000; at most 100,000/,
  );
  assert.throws(() => parseScenario("duration: 10s\nmeasureFrom: 10s\n", "x.yaml"), /x\.yaml: measureFrom: must be before the end of the run/);
  assert.throws(() => parseScenario("duration: 10s\nbucket: 2m\n", "x.yaml"), /x\.yaml: bucket: is longer than the run/);
  assert.throws(
    () => parseScenario("duration: 1h\nclients: { count: 10000, rps: 10000000 }\n", "x.yaml"),
    /x\.yaml: clients: make about 3\.6e\+14 RPCs; at most 2e\+8 per run/,
  );
  // A service time under 1 µs would not move the virtual clock.
  assert.throws(
    () => parseScenario("backends: { serviceTime: { distribution: constant, value: 1.0e-20 } }\n", "x.yaml"),
    /backends\.serviceTime\.value: must be a duration/,
  );
});

test("not YAML, not a mapping, an unknown base: clear errors", () => {
  assert.throws(() => parseScenario("a: [1,", "x.yaml"), /x\.yaml: not YAML or JSON/);
  assert.throws(() => parseScenario("- 1\n- 2\n", "x.yaml"), /x\.yaml: a scenario is a mapping/);
  assert.throws(() => parseScenario("base: nope\n", "x.yaml"), /base: no built-in scenario "nope" \(there are seed, scale-out/);
});

test("a name is a built-in scenario; anything else must be a readable file", async () => {
  assert.equal((await resolveScenario("seed")).name, "seed");
  await assert.rejects(
    resolveScenario("/nonexistent/scenario.yaml"),
    (err: unknown) =>
      err instanceof ScenarioError &&
      /neither a built-in scenario \(seed, scale-out, slow-pod, failing-pod, rolling-restart\) nor a readable file/.test(err.message),
  );
});
