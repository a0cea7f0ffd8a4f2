// The dashboard's HTTP side without a browser: / is the page, uPlot's files come from its
// package, the JSON index moved to /paths, and the page's script at least parses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Script } from "node:vm";
import { withAdmin } from "../support/admin.js";
import { listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { proxyWithPods } from "../support/proxy-with-pods.js";

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
