// The dashboard. Its HTTP side without a browser: / is the page, uPlot's files come from its
// package, the JSON index moved to /paths, and the page's script at least parses. Then in a
// real browser: `sluice demo` with 3 pods, the last one failing, and headless Chromium
// (Debian's chromium package, driven by playwright-core) on the URL the demo prints. It waits
// for what a person would look for: the request-rate chart plotting all three pods above
// zero, and pod-3 marked ejected in the endpoint table.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { Script } from "node:vm";
import { chromium } from "playwright-core";
import { withAdmin } from "../support/admin.js";
import { CLI } from "../support/cli.js";
import { listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";
import { defer } from "../support/teardown.js";

const require = createRequire(import.meta.url);

test("dashboard over HTTP: / is the page, /assets/ serve uPlot's own files, /paths the JSON index", async (t) => {
  const p = await proxyWithPods(t, {
    config: (ports) => [serviceEntryYaml("grpc-service", ports), listenerYaml("  admin: 127.0.0.1:0\n")],
    start: withAdmin(),
  });
  const page = await p.get("/");
  assert.equal(page.status, 200);
  assert.equal(page.type, "text/html; charset=utf-8");
  assert.match(page.body, /<script src="\/assets\/uPlot\.iife\.min\.js"><\/script>/);
  assert.match(page.body, /<link rel="stylesheet" href="\/assets\/uPlot\.min\.css">/);
  // Both polled endpoints, and the state the browser test reads.
  assert.match(page.body, /"\/clusters"/);
  assert.match(page.body, /"\/history\?since="/);
  assert.match(page.body, /window\.__sluiceDashboard/);
  // The inline script is valid JavaScript (the browser test runs it; this says where it breaks).
  const scripts = [...page.body.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
  assert.equal(scripts.length, 1);
  assert.doesNotThrow(() => new Script(scripts[0]!, { filename: "dashboard-page.js" }));

  for (const [path, file, type] of [
    ["/assets/uPlot.iife.min.js", "uplot/dist/uPlot.iife.min.js", "text/javascript; charset=utf-8"],
    ["/assets/uPlot.min.css", "uplot/dist/uPlot.min.css", "text/css; charset=utf-8"],
  ] as const) {
    const r = await p.get(path);
    assert.equal(r.status, 200, path);
    assert.equal(r.type, type);
    assert.equal(r.body, readFileSync(require.resolve(file), "utf8"));
  }
  assert.equal((await p.get("/assets/uPlot.esm.js")).status, 404);
  const index = await p.get("/paths");
  assert.equal(index.status, 200);
  const paths = (JSON.parse(index.body) as { paths: Record<string, string> }).paths;
  for (const path of ["/", "/history", "/clusters", "/paths"]) assert.ok(path in paths, path);
});

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];
/** Everything below shares this budget, so a failure ends (and cleans up) before the test timeout. */
const BUDGET_MS = 25_000;

/** What the page publishes as window.__sluiceDashboard.plotted(): host -> chart -> series label -> values. */
type Plotted = Record<string, Record<string, Record<string, { last: number | null; max: number | null; points: number }>>>;

/** Resolves with the dashboard URL the demo prints. */
function dashboardUrl(child: ChildProcessByStdio<null, Readable, Readable>, output: { text: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    child.stdout.on("data", (c: Buffer) => {
      output.text += c.toString();
      const m = /dashboard at (http:\/\/\S+)/.exec(output.text);
      if (m) resolve(m[1]!);
    });
    child.once("close", (code) => reject(new Error(`sluice demo exited with ${code} before printing the dashboard URL:\n${output.text}`)));
  });
}

test("dashboard: the request-rate chart plots three pods above zero, and the failing pod is shown ejected", { timeout: 30_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: this test drives Debian's chromium package (apt-get install chromium; .ci/run installs it)`);
  const deadline = Date.now() + BUDGET_MS;
  const left = (): number => Math.max(1, deadline - Date.now());

  const child = spawn(process.execPath, [CLI, "demo", "--pods", "3", "--clients", "3", "--failing-pods", "1"], { stdio: ["ignore", "pipe", "pipe"] });
  const closed = once(child, "close");
  const output = { text: "" };
  let stderr = "";
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  defer(t, async () => {
    child.kill("SIGINT");
    const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await closed;
    clearTimeout(killer);
    if (stderr !== "") t.diagnostic(`demo stderr: ${stderr}`);
  });
  const pageErrors: string[] = [];
  const shots = mkdtempSync(join(tmpdir(), "sluice-dashboard-"));
  const [url, browser] = await Promise.all([dashboardUrl(child, output), chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: left() })]);
  defer(t, () => browser.close());
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  defer(t, async () => {
    const shot = join(shots, "dashboard.png");
    await page.screenshot({ path: shot, fullPage: true, timeout: 5000 }).then(
      () => t.diagnostic(`screenshot: ${shot}`),
      (e: unknown) => t.diagnostic(`no screenshot: ${(e as Error).message}`),
    );
  });
  page.on("pageerror", (e) => pageErrors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(m.text());
  });
  await page.goto(url, { timeout: left() });

  // All three pods' series in the rate chart, each with a non-zero value plotted (pod-3's
  // falls to 0 once ejected; its first seconds stay in the chart).
  const rates = await page.waitForFunction(
    () => {
      const dash = (globalThis as unknown as { __sluiceDashboard?: { plotted(): Plotted } }).__sluiceDashboard;
      const rps = dash === undefined ? undefined : Object.values(dash.plotted())[0]?.["rps"];
      if (rps === undefined) return false;
      const pods = Object.entries(rps).filter(([label]) => /^pod-\d/.test(label));
      return pods.length === 3 && pods.every(([, s]) => (s.max ?? 0) > 0) ? rps : false;
    },
    undefined,
    { timeout: left(), polling: 100 },
  );
  const plotted = (await rates.jsonValue()) as Record<string, { last: number | null; max: number | null; points: number }>;
  assert.deepEqual(
    Object.keys(plotted)
      .map((l) => l.split(" ")[0])
      .sort(),
    ["pod-1", "pod-2", "pod-3"],
  );
  for (const [label, s] of Object.entries(plotted)) {
    t.diagnostic(`plotted ${label}: last ${s.last?.toFixed(1)} rps, max ${s.max?.toFixed(1)} rps, ${s.points} points`);
    // The healthy pods take the traffic now.
    if (!label.startsWith("pod-3")) assert.ok((s.last ?? 0) > 0, `${label} last plotted rate ${s.last}`);
  }

  // pod-3 starts failing 5 s in; outlier detection (consecutive5xxErrors: 5) ejects it.
  const badge = page.locator('tr[data-pod="pod-3"][data-ejected="true"] [data-badge="ejected"]');
  await badge.waitFor({ state: "visible", timeout: left() });
  assert.equal(await badge.textContent(), "ejected");
  assert.match((await badge.getAttribute("title")) ?? "", /consecutive-5xx/);
  const ejectedPods: (string | null)[] = [];
  for (const row of await page.locator('tr[data-ejected="true"]').all()) ejectedPods.push(await row.getAttribute("data-pod"));
  assert.deepEqual(ejectedPods, ["pod-3"]);
  assert.equal(await page.locator('tr[data-ejected="false"] [data-badge="healthy"]').count(), 2);
  // The imbalance figure is shown, as a number.
  const imbalance = await page.locator(".imbalance").getAttribute("data-request-rate");
  assert.ok(imbalance !== null && Number.isFinite(Number(imbalance)) && imbalance !== "", `imbalance ${imbalance}`);
  assert.deepEqual(pageErrors, []);
});
