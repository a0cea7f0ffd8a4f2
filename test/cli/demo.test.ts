// `sluice demo` end to end: what `npm start` runs (docs/demo.md).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { CLI, endWith, runCli } from "../support/cli.js";

/**
 * Each pod's share (%) of all RPCs so far, from the totals column of the last per-pod table:
 * the whole run, not just its last second, which a loaded machine can skew.
 */
function lastTable(out: string): Map<string, number> {
  const tables = out.split(/^pod\s+rps\s+share.*$/m);
  const last = tables[tables.length - 1] ?? "";
  const totals = new Map<string, number>();
  for (const m of last.matchAll(/^(pod-\d+)\s+\d+\s+[\d.]+%\s+\d+\s+(\d+)/gm)) totals.set(m[1]!, Number(m[2]));
  const sum = [...totals.values()].reduce((a, b) => a + b, 0);
  return new Map([...totals].map(([pod, n]) => [pod, (100 * n) / sum]));
}

test("sluice demo --pods 4 --clients 2: every pod gets a fair share, no RPC fails", async () => {
  const r = await runCli(["demo", "--pods", "4", "--clients", "2", "--duration", "2"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /failed RPCs: 0\)/);
  assert.doesNotMatch(r.stdout, /failed RPCs: [1-9]/);
  const rows = lastTable(r.stdout);
  assert.deepEqual([...rows.keys()].sort(), ["pod-1", "pod-2", "pod-3", "pod-4"]);
  for (const [pod, share] of rows) assert.ok(share > 12 && share < 38, `${pod} ${share}%`);
  assert.match(r.stdout, /sluice demo: stopped/);
  assert.match(r.stdout, /sluice demo: dashboard at http:\/\/127\.0\.0\.1:\d+\/ \(metrics at http:\/\/127\.0\.0\.1:\d+\/metrics\)/);
});

test("sluice demo stops cleanly on Ctrl-C (SIGINT)", async (t) => {
  const child = spawn(process.execPath, [CLI, "demo"], { stdio: ["ignore", "pipe", "pipe"] });
  endWith(t, child, "SIGKILL"); // only if the test failed before its SIGINT ended the demo
  let out = "";
  await new Promise<void>((resolve) => {
    child.stdout.on("data", (c: Buffer) => {
      out += c.toString();
      if (/pod-3/.test(out)) resolve();
    });
  });
  child.kill("SIGINT");
  const [code] = (await once(child, "close")) as [number];
  assert.equal(code, 0);
  assert.match(out, /sluice demo: stopped/);
});
