// `sluice validate`: exit codes and output, and the shipped example.
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateCommand } from "../../src/cli/validate.js";
import { loadConfigFiles } from "../../src/config/load.js";
import { repoPath } from "../support/paths.js";

async function run(files: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await validateCommand(files, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

test("examples/seed.yaml validates with no warning", async () => {
  const seed = repoPath("examples/seed.yaml");
  const { code, out, err } = await run([seed]);
  assert.equal(code, 0);
  assert.deepEqual(err, []);
  assert.deepEqual(out, ["ok: 3 resources (1 DestinationRule, 1 ServiceEntry, 1 Proxy), 1 cluster, 1 virtual host, 0 warnings"]);
});

test("examples/least-conn-alias.yaml validates with exactly the one warning it is about", async () => {
  const file = repoPath("examples/least-conn-alias.yaml");
  const { code, out, err } = await run([file]);
  assert.equal(code, 0);
  assert.deepEqual(err, []);
  assert.deepEqual(out, [
    "ok: 2 resources (1 DestinationRule, 1 ServiceEntry), 1 cluster, 1 virtual host, 1 warning",
    `warning: ${file}:15 spec.trafficPolicy.loadBalancer.simple: LEAST_CONN is a deprecated alias of LEAST_REQUEST (as in Istio); sluice uses LEAST_REQUEST`,
  ]);
});

test("examples/seed.yaml loads into its settings", async () => {
  const r = await loadConfigFiles([repoPath("examples/seed.yaml")]);
  assert.ok(r.ok);
  const c = r.config.clusters.get("grpc-service|50051|")!;
  assert.deepEqual(c.policy.loadBalancer, { kind: "simple", policy: "LEAST_REQUEST" });
  assert.equal(c.policy.connectionPool.http.http2MaxRequests, 1000);
  assert.equal(c.policy.connectionPool.http.maxRequestsPerConnection, 100);
  assert.deepEqual(
    c.policy.outlierDetection && [
      c.policy.outlierDetection.consecutive5xxErrors,
      c.policy.outlierDetection.intervalMs,
      c.policy.outlierDetection.baseEjectionTimeMs,
    ],
    [5, 30_000, 30_000],
  );
  assert.deepEqual(
    c.endpoints.map((e) => [e.address, e.port, e.labels["pod"]]),
    [
      ["127.0.0.1", 50061, "pod-1"],
      ["127.0.0.1", 50062, "pod-2"],
      ["127.0.0.1", 50063, "pod-3"],
    ],
  );
  assert.deepEqual(r.config.listener.listen, { host: "127.0.0.1", port: 15001 });
  assert.equal(r.config.listener.defaultHost, "grpc-service");
});

test("invalid files: every problem on its own line as file:line path: message, exit code 1", async () => {
  const dir = repoPath("test/fixtures/config");
  const { code, out, err } = await run([`${dir}/bad-a.yaml`, `${dir}/bad-b.yaml`]);
  assert.equal(code, 1);
  assert.deepEqual(out, []);
  assert.deepEqual(err, [
    `${dir}/bad-a.yaml:8 spec.ports[0].number: must be an integer from 1 to 65535, got 70000`,
    `${dir}/bad-b.yaml:6 spec.trafficPolicy.loadBalancer.simple: must be one of UNSPECIFIED, LEAST_CONN, ROUND_ROBIN, RANDOM, PASSTHROUGH, LEAST_REQUEST, got "ROUNDROBIN" (did you mean ROUND_ROBIN?)`,
    "2 problems in 2 files",
  ]);
});

test("a missing file is a problem, not a crash; no files at all too", async () => {
  const missing = repoPath("test/fixtures/config/does-not-exist.yaml");
  const r = await run([missing]);
  assert.equal(r.code, 1);
  assert.deepEqual(r.err, [`${missing}: cannot read file: no such file`, "1 problem in 1 file"]);
  const dir = await run([repoPath("test/fixtures/config")]);
  assert.equal(dir.code, 1);
  assert.match(dir.err[0]!, /cannot read file: is a directory/);
  assert.equal((await run([])).code, 1);
});
