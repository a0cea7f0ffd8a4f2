// `sluice demo --mode connection` end to end: connection cycling spreading pinned clients, its per-pod
// tables and its closing verdict.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runCli, tempFile } from "../support/cli.js";
import { repoPath } from "../support/paths.js";

/** Pinned connections and RPCs per pod from the table under the line starting with `title`. */
function table(out: string, title: string): { pinned: number[]; rpcs: number[] } {
  const start = out.split("\n").findIndex((l) => l.startsWith(title));
  assert.ok(start >= 0, `no "${title}" table in:\n${out}`);
  const pinned: number[] = [];
  const rpcs: number[] = [];
  for (const line of out.split("\n").slice(start + 2)) {
    const m = /^pod-\d+\s+(\d+)\s+(\d+)$/.exec(line);
    if (m === null) break;
    pinned.push(Number(m[1]));
    rpcs.push(Number(m[2]));
  }
  return { pinned, rpcs };
}

function lastLine(out: string): string {
  return out.trimEnd().split("\n").at(-1) ?? "";
}

test("sluice demo --mode connection: all 3 clients pinned to pod-1, pods 2 and 3 join, cycling spreads them 1/1/1", async () => {
  const r = await runCli(["demo", "--mode", "connection"]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(table(r.stdout, "before"), { pinned: [3, 0, 0], rpcs: [3, 0, 0] });
  const after = table(r.stdout, "after");
  assert.deepEqual(after.pinned, [1, 1, 1]);
  assert.equal(
    after.rpcs.reduce((a, b) => a + b, 0),
    3 * 2001,
  );
  for (const n of after.rpcs) assert.ok(n >= 1000, `a pod served only ${n} RPCs`);
  assert.doesNotMatch(r.stdout, /failed RPCs: [1-9]/);
  assert.match(r.stdout, /maxRequestsPerConnection 100 /);
  assert.match(r.stdout, /^sluice demo: dashboard at http:\/\/127\.0\.0\.1:\d+\/ \(metrics at http:\/\/127\.0\.0\.1:\d+\/metrics\)$/m);
  assert.match(r.stdout, /downstream connections: 63 accepted, 60 cycled/);
  assert.equal(lastLine(r.stdout), "sluice demo: the spread became even: pinned connections 1/1/1 (pod-1/pod-2/pod-3)");
});

test("sluice demo --mode connection without maxRequestsPerConnection: nothing cycles, the clients stay on pod-1 (3/0/0)", async () => {
  const seed = readFileSync(repoPath("examples/seed.yaml"), "utf8");
  const noCycling = seed.replace(/^\s*maxRequestsPerConnection:.*\n/m, "");
  assert.notEqual(noCycling, seed);
  const r = await runCli(["demo", "--mode", "connection", "-c", tempFile("no-cycling.yaml", noCycling)]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(table(r.stdout, "before").pinned, [3, 0, 0]);
  assert.deepEqual(table(r.stdout, "after"), { pinned: [3, 0, 0], rpcs: [3 * 2001, 0, 0] });
  assert.match(r.stdout, /maxRequestsPerConnection 0 \(connections are never cycled\)/);
  assert.match(
    lastLine(r.stdout),
    /^sluice demo: the spread did NOT become even: pinned connections 3\/0\/0 .*none moves: a connection is balanced once, when it opens$/,
  );
});
