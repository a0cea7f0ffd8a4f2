// `sluice proxy` config hot reload, end to end: the real CLI, real grpc-js clients and
// backends. Reloads under load lose no RPC; a removed endpoint gets no RPC started after the
// reload's acknowledgement; an invalid file keeps the running config and prints every problem
// exactly as `sluice validate` does.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import type { TransportKind } from "../../src/config/types.js";
import { clientFor } from "../support/calls.js";
import { endWith, runCli, tempFile } from "../support/cli.js";
import { destinationRuleYaml, listenerYaml, type Pod } from "../support/cluster.js";
import { exitsCleanly, Load, replaceFile, spawnSluice } from "../support/lines.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer, type Owner } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

interface Shape {
  /** Endpoint weights, one per pod given; a pod left out is not in the config. */
  readonly weights: readonly number[];
  readonly policy: "ROUND_ROBIN" | "LEAST_REQUEST" | "RANDOM";
  readonly maxRequestsPerConnection?: number;
}

/** The Proxy resource, a STATIC ServiceEntry "echo" over the pods, and its DestinationRule. */
function configYaml(pods: readonly Pod[], shape: Shape, transport: TransportKind): string {
  const endpoints = shape.weights
    .map((w, i) => `    - address: 127.0.0.1\n      ports: { grpc: ${pods[i]!.port} }\n      weight: ${w}\n      labels: { pod: pod-${i + 1} }\n`)
    .join("");
  const pool =
    shape.maxRequestsPerConnection === undefined ? "" : `\n    connectionPool: { http: { maxRequestsPerConnection: ${shape.maxRequestsPerConnection} } }`;
  return [
    listenerYaml("", transport),
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo]
  ports:
    - { number: 50051, name: grpc, protocol: GRPC }
  resolution: STATIC
  endpoints:
${endpoints}`,
    destinationRuleYaml("echo", `    loadBalancer: { simple: ${shape.policy} }${pool}`),
  ].join("\n---\n");
}

const reloaded = (n: number): RegExp => new RegExp(`config reload #${n} applied \\(([^)]*)\\): (.*)\\n`);

/** `n` clients of the proxy on `port` (authority echo), closed when `owner` ends. */
function clientsOf(owner: Owner, port: number, n: number): grpc.Client[] {
  return Array.from({ length: n }, () => clientFor(owner, `127.0.0.1:${port}`, { "grpc.default_authority": "echo" }));
}

/** A Load stopped when `owner` ends (before the clients it runs on close). */
function loadOn(owner: Owner, clients: readonly grpc.Client[], concurrency: number, metadata: () => grpc.Metadata): Load {
  const load = new Load(clients, concurrency, metadata);
  defer(owner, () => load.stop());
  return load;
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("20 reloads under load (LB policy, weights and pool settings alternate): 0 failed RPCs, no connection dropped", async (t) => {
      const pods = await scriptedPods(t, 3);
      const a: Shape = { weights: [1, 1, 1], policy: "ROUND_ROBIN" };
      const b: Shape = { weights: [5, 2, 1], policy: "LEAST_REQUEST", maxRequestsPerConnection: 40 };
      const file = tempFile("sluice.yaml", configYaml(pods, a, transport));
      const sluice = await spawnSluice(["-c", file]);
      exitsCleanly(t, sluice);
      const load = loadOn(t, clientsOf(t, sluice.port, 4), 8, () => new grpc.Metadata());
      await load.completions(50);
      for (let n = 1; n <= 20; n++) {
        const text = configYaml(pods, n % 2 === 1 ? b : a, transport);
        // Both ways files change on disk: renamed over (editors, kubectl) and written in place.
        if (n % 4 < 2) replaceFile(file, text);
        else writeFileSync(file, text);
        const m = await sluice.out.waitFor(reloaded(n));
        assert.equal(m[1], "file change");
        assert.match(m[2]!, /~echo\|50051\|\(endpoints,loadBalancer,connectionPool\)/);
        await load.completions(40); // RPCs under the new config, before the next reload
      }
      await load.stop();
      assert.deepEqual(load.failures(), []);
      assert.ok(load.outcomes.length >= 850, `${load.outcomes.length} RPCs`);
      // Every pod served under both configs: the reloads changed balancing, not the pod set.
      for (const p of pods) assert.ok(p.stats.rpcs > 0, p.stats.name);
      assert.doesNotMatch(sluice.out.text, /needs a restart|rejected/);
    });
  });

test("a reload that removes an endpoint: no RPC started after its acknowledgement reaches it; RPCs in flight finish", async (t) => {
  const pods = await scriptedPods(t, 3);
  const transport = TEST_TRANSPORTS[0]!;
  const file = tempFile("sluice.yaml", configYaml(pods, { weights: [1, 1, 1], policy: "ROUND_ROBIN" }, transport));
  const sluice = await spawnSluice(["-c", file]);
  endWith(t, sluice.child);
  // Slow RPCs, so some are in flight on pod-3 when it is removed.
  const load = loadOn(t, clientsOf(t, sluice.port, 2), 10, () => {
    const md = new grpc.Metadata();
    md.set("x-echo-delay-ms", "20");
    return md;
  });
  await load.completions(100);
  replaceFile(file, configYaml(pods, { weights: [1, 1], policy: "ROUND_ROBIN" }, transport));
  const m = await sluice.out.waitFor(reloaded(1));
  load.phase = 1;
  assert.match(m[2]!, /~echo\|50051\|\(endpoints\)/);
  await load.completions(300);
  await load.stop();
  assert.deepEqual(load.failures(), []);
  const after = load.outcomes.filter((o) => o.phase === 1);
  assert.ok(after.length >= 250);
  assert.deepEqual(after.filter((o) => o.pod === "pod-3").length, 0, "RPCs started after the reload reached the removed pod");
  assert.ok(after.filter((o) => o.pod === "pod-1").length > 50 && after.filter((o) => o.pod === "pod-2").length > 50);
  // Counted at the backend too: pod-3 served exactly the RPCs that started before the reload.
  const before = load.outcomes.filter((o) => o.phase === 0 && o.pod === "pod-3").length;
  assert.ok(before > 0);
  assert.equal(pods[2]!.stats.rpcs, before);
});

test("an invalid config file keeps the running config and prints every problem as `sluice validate` does; fixing it reloads", async (t) => {
  const pods = await scriptedPods(t, 3);
  const transport = TEST_TRANSPORTS[0]!;
  const good = configYaml(pods, { weights: [1, 1, 1], policy: "ROUND_ROBIN" }, transport);
  const file = tempFile("sluice.yaml", good);
  const sluice = await spawnSluice(["-c", file]);
  endWith(t, sluice.child);
  const client = clientFor(t, `127.0.0.1:${sluice.port}`, { "grpc.default_authority": "echo" });
  // Drops pod-3 (were it applied, pod-3 would get no more RPCs) and has two problems.
  const bad = configYaml(pods, { weights: [1, 1], policy: "ROUND_ROBIN" }, transport)
    .replace("simple: ROUND_ROBIN", "simple: ROUND_ROBIN_PLEASE")
    .replace("listen: 127.0.0.1:0", "listen: nowhere");
  const mark = sluice.out.mark();
  const logMark = sluice.err.mark();
  writeFileSync(file, bad);
  const m = await sluice.out.waitFor(/config reload \(file change\) rejected, keeping the running config: (\d+) problems\n/, mark);
  assert.equal(Number(m[1]), 2);
  const validate = await runCli(["validate", file]);
  assert.equal(validate.code, 1);
  const problems = validate.stderr.split("\n").filter((l) => l.startsWith(file));
  assert.equal(problems.length, 2);
  await sluice.err.waitFor(/"config reload rejected; the running config stays"/, logMark);
  for (const p of problems) assert.ok(sluice.out.text.slice(mark).includes(`${p}\n`), `proxy did not print: ${p}`);

  // The running config stays: round robin over all three pods.
  const served = new Set<string>();
  for (let i = 0; i < 9; i++) {
    const r = await callUnary(client, Buffer.from("x"));
    assert.equal(r.code, 0, r.details);
    served.add(String(r.headers?.get("x-pod")[0]));
  }
  assert.deepEqual([...served].sort(), ["pod-1", "pod-2", "pod-3"]);

  // SIGHUP retries the same bad file (and rejects it again); fixing the file applies it.
  sluice.child.kill("SIGHUP");
  await sluice.out.waitFor(/config reload \(SIGHUP\) rejected/, mark);
  replaceFile(file, configYaml(pods, { weights: [1, 1], policy: "ROUND_ROBIN" }, transport));
  const ok = await sluice.out.waitFor(reloaded(1));
  assert.equal(ok[1], "file change");
  for (let i = 0; i < 6; i++) assert.notEqual((await callUnary(client, Buffer.from("x"))).headers?.get("x-pod")[0], "pod-3");
});

test("SIGHUP reloads unchanged files (reported as no changes); listen and transport changes need a restart and are not applied", async (t) => {
  const pods = await scriptedPods(t, 1);
  const transport = TEST_TRANSPORTS[0]!;
  const other: TransportKind = transport === "h2" ? "node" : "h2";
  const file = tempFile("sluice.yaml", configYaml(pods, { weights: [1], policy: "ROUND_ROBIN" }, transport));
  const sluice = await spawnSluice(["-c", file]);
  endWith(t, sluice.child);
  const client = clientFor(t, `127.0.0.1:${sluice.port}`, { "grpc.default_authority": "echo" });
  sluice.child.kill("SIGHUP");
  const m = await sluice.out.waitFor(reloaded(1));
  assert.deepEqual([m[1], m[2]], ["SIGHUP", "no changes"]);
  const mark = sluice.out.mark();
  replaceFile(file, configYaml(pods, { weights: [1], policy: "ROUND_ROBIN" }, other).replace("listen: 127.0.0.1:0", "listen: 127.0.0.1:1"));
  const r = await sluice.out.waitFor(reloaded(2));
  assert.match(r[2]!, /needs a restart \(not applied\): listen: 127\.0\.0\.1:0 -> 127\.0\.0\.1:1; transport: "\w+" -> "\w+"/);
  await sluice.out.waitFor(/warning: listen changed; it needs a restart/, mark);
  await sluice.out.waitFor(/warning: transport changed; it needs a restart/, mark);
  assert.equal((await callUnary(client, Buffer.from("x"))).code, 0, "still serving on the old port");
});
