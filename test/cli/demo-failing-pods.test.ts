// `sluice demo --failing-pods 1`: the last pod starts failing 5 s in; the demo says in the
// terminal when outlier detection ejects it, and once stopped it exits 0, the only failures
// being the ones it provoked (counted, with their status). The test waits for the ejection
// line, then stops the demo as a person would (Ctrl-C).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { CLI, endWith } from "../support/cli.js";
import { Output } from "../support/lines.js";

test("demo --failing-pods 1: the ejection is said once on stdout and logged once; exit 0 with only provoked failures, each told", async (t) => {
  const child = spawn(process.execPath, [CLI, "demo", "--pods", "3", "--clients", "2", "--failing-pods", "1", "--log-format", "json"], {
    stdio: ["ignore", "pipe", "pipe"],
    // The demo logs warnings only unless told otherwise: here its events are wanted in the log too.
    env: { ...process.env, SLUICE_LOG_LEVEL: "info" },
  });
  endWith(t, child, "SIGKILL"); // only if the test failed before its SIGINT ended the demo
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const closed = once(child, "close") as Promise<[number | null]>;
  await out.waitFor(/^sluice demo: 3 pods \(1 failing from 5 s in\)/m);
  await out.waitFor(/^sluice demo: pod-3 ejected by outlier detection \(consecutive-5xx\), for 30s: no RPCs go to it$/m);
  child.kill("SIGINT");
  const [code] = await closed;
  assert.equal(code, 0, `${out.text}\n${err.text}`);

  assert.equal(out.text.match(/pod-3 ejected/g)?.length, 1, "said once on stdout");
  assert.doesNotMatch(out.text, /pod-[12] ejected/);
  assert.match(out.text, /^sluice demo: stopped$/m);
  assert.doesNotMatch(out.text, /did not provoke/);
  const failed = Number(/\(failed RPCs: (\d+)\)\n(?:.*\n)*?sluice demo: stopped/.exec(out.text)?.[1] ?? NaN);
  if (failed > 0) {
    // Every failure told: how many, and why.
    assert.match(
      out.text,
      new RegExp(
        `^sluice demo: ${failed} RPCs? failed as provoked: a failing pod answered every attempt \\(the first and up to 2 retries\\) before outlier detection ejected it\\n  ${failed} x UNAVAILABLE: demo pod failing on purpose \\(--failing-pods\\)$`,
        "m",
      ),
    );
  }

  // The log: JSON only, the ejection once.
  const records = err.text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as { msg: string; pod?: string; reason?: string });
  const ejected = records.filter((r) => r.msg === "endpoint ejected");
  assert.equal(ejected.length, 1, err.text);
  assert.deepEqual([ejected[0]!.pod, ejected[0]!.reason], ["pod-3", "consecutive-5xx"]);
});
