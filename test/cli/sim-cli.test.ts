// `sluice sim` end to end: the built CLI spawned, its table, its files and its errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli, tempFile } from "../support/cli.js";
import { destinationRuleYaml, serviceEntryYaml } from "../support/cluster.js";

test("sluice sim --scenario seed prints the per-backend table; --out writes CSV, JSON and charts as SVG and PNG", async () => {
  const out = join(mkdtempSync(join(tmpdir(), "sluice-sim-")), "run");
  const r = await runCli(["sim", "--scenario", "seed", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /scenario seed: layer proxy-connection, LEAST_REQUEST on pinned connections \(LEAST_CONN\), maxRequestsPerConnection 100/);
  assert.match(r.stdout, /^backend\s+up\s+RPCs\s+share\s+RPC\/s\s+p50 ms\s+p99 ms\s+conns\s+to 90% fair$/m);
  for (const pod of ["pod-1", "pod-2", "pod-3"]) assert.match(r.stdout, new RegExp(`^${pod}\\s`, "m"));
  assert.match(r.stdout, /time to balance \(the slowest new backend to 90% of its fair share\): \d/);
  assert.deepEqual(readdirSync(out).sort(), ["connections.png", "connections.svg", "load.png", "load.svg", "series.csv", "summary.csv", "summary.json"]);
  const series = readFileSync(join(out, "series.csv"), "utf8").trim().split("\n");
  assert.equal(series[0], "t_s,backend,rpc_per_s,share,connections");
  // 20 s in 250 ms buckets: pod-1 in all 80, pods 2 and 3 from 1 s on.
  assert.equal(series.length - 1, 80 + 2 * 76);
  const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as { backends: { name: string; share: number }[] };
  assert.deepEqual(
    summary.backends.map((b) => b.name),
    ["pod-1", "pod-2", "pod-3"],
  );
  const png = readFileSync(join(out, "load.png"));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const svg = readFileSync(join(out, "load.svg"), "utf8");
  assert.match(svg, /^<svg/);
  assert.match(svg, /RPCs per second per backend/);
  for (const pod of ["pod-1", "pod-2", "pod-3"]) assert.ok(svg.includes(pod), `legend names ${pod}`);
});

test("--format json is one JSON document on stdout; --layer l4 shows connections staying where they were balanced once", async () => {
  const r = await runCli(["sim", "--scenario", "seed", "--layer", "l4", "--format", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as { layer: string; timeToBalanceMs: number | null; backends: { share: number }[] };
  assert.equal(s.layer, "l4");
  assert.equal(s.timeToBalanceMs, null);
  assert.deepEqual(
    s.backends.map((b) => b.share),
    [1, 0, 0],
  );
});

/** A service `host` with one endpoint and a DestinationRule with the `simple` policy. */
function service(host: string, simple = "ROUND_ROBIN"): string {
  return `${serviceEntryYaml(host, [50051])}---
${destinationRuleYaml(host, `    loadBalancer: { simple: ${simple} }`)}
`;
}

test("-c: the config's DestinationRule is what runs; a config with several services needs --host", async () => {
  const file = tempFile("two.yaml", `${service("a")}---\n${service("b")}`);
  const ambiguous = await runCli(["sim", "-c", file, "--scenario", "seed"]);
  assert.equal(ambiguous.code, 1);
  assert.match(ambiguous.stderr, /several services \(a, b\): choose one with --host/);
  const ok = await runCli(["sim", "-c", file, "--host", "b", "--scenario", "seed"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /layer proxy-connection, ROUND_ROBIN, no maxRequestsPerConnection/);
  // Without cycling, connection mode never leaves pod 1.
  assert.match(ok.stdout, /time to balance .*: never/);
});

test("bad input: an unknown scenario, a broken scenario file, a broken config, an event on a missing pod", async () => {
  const unknown = await runCli(["sim", "--scenario", "nope"]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /nope: neither a built-in scenario \(seed, scale-out, slow-pod, failing-pod, rolling-restart\) nor a readable file/);
  assert.match(unknown.stderr, /^error \[SLUICE_ERR_SCENARIO_INVALID\]: nope: /m, "the error's code");
  const broken = await runCli(["sim", "--scenario", tempFile("s.yaml", "duration: soon\n")]);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /s\.yaml: duration: must be a duration/);
  const config = await runCli(["sim", "-c", tempFile("c.yaml", "kind: DestinationRule\n"), "--scenario", "seed"]);
  assert.equal(config.code, 1);
  assert.match(config.stderr, /c\.yaml:\d+/);
  const passthrough = await runCli(["sim", "-c", tempFile("p.yaml", service("p", "PASSTHROUGH")), "--scenario", "seed"]);
  assert.equal(passthrough.code, 1);
  assert.match(passthrough.stderr, /sluice sim: p uses PASSTHROUGH .*: there is no balancing to simulate/);
  const missing = await runCli(["sim", "--scenario", tempFile("m.yaml", "duration: 5s\nevents: [{ at: 1s, slow: pod-9, factor: 2 }]\n")]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /sluice sim: scenario custom: .*no backend pod-9/);
  assert.match(missing.stderr, /error \[SLUICE_ERR_SCENARIO_EVENT\]: /, "the error's code");
  assert.doesNotMatch(missing.stderr, /at .*\.js:\d+/, "no stack trace");
  const gone = await runCli([
    "sim",
    "--scenario",
    tempFile("g.yaml", "duration: 20s\nevents: [{ at: 5s, remove: pod-1 }, { at: 10s, restart: pod-1, down: 1s }]\n"),
  ]);
  assert.equal(gone.code, 1);
  assert.match(gone.stderr, /pod-1 was removed at 5s; nothing can happen to it at 10s/);
  const notDir = tempFile("file.txt", "x");
  const out = await runCli(["sim", "--scenario", "seed", "--out", notDir]);
  assert.equal(out.code, 1);
  assert.match(out.stderr, /sluice sim: cannot write .*file\.txt: /);
  assert.doesNotMatch(out.stderr, /at .*\.js:\d+/, "no stack trace");
  const wide = await runCli([
    "sim",
    "--scenario",
    tempFile("w.yaml", "clients: { count: 10000, channels: 10, rps: 1 }\nbackends: { count: 2000 }\n"),
    "--layer",
    "client",
  ]);
  assert.equal(wide.code, 1);
  assert.match(wide.stderr, /the client layer would hold 200,000,000 channel x backend views; at most 2,000,000/);
  assert.match(wide.stderr, /error \[SLUICE_ERR_SIM_TOO_LARGE\]: /, "the error's code");
});

test("a bad option value: one line naming the option, exit 1, no stack trace", async () => {
  const r = await runCli(["sim", "--scenario", "seed", "--seed", "x"]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'sluice sim: --seed: must be a whole number from 0 to 4294967295, got "x"\n');
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/, "no stack trace");
});
