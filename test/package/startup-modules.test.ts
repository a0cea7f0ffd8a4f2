// What each command loads: the simulator's chart packages (vega, vega-lite, resvg) and its
// progress bar are for `sluice sim --out` only; the proxy, validate and the client library
// start without them (less memory and start-up time where sluice runs for hours).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { CLI, tempDir } from "../support/cli.js";
import { Output } from "../support/lines.js";
import { repoPath } from "../support/paths.js";

const CHART_PACKAGES = /\/node_modules\/(vega|vega-lite|@resvg\/resvg-js|cli-progress)\//;
const HOOKS = pathToFileURL(repoPath("dist/test/support/load-recorder.js")).href;
const REGISTER = `data:text/javascript,import{register}from"node:module";register(${JSON.stringify(HOOKS)});`;

/** Runs the CLI with the load recorder until it prints `ready` (then SIGTERM), or to its end, and returns the packages it loaded. */
async function packagesLoaded(dir: string, args: string[], ready?: RegExp): Promise<Set<string>> {
  const log = join(dir, `loads-${args[0]}.txt`);
  const child = spawn(process.execPath, ["--import", REGISTER, CLI, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, SLUICE_LOAD_LOG: log },
  });
  const exited = new Promise<number | null>((ok) => child.once("exit", ok));
  const err = new Output(child.stderr);
  const out = new Output(child.stdout);
  if (ready !== undefined) {
    await out.waitFor(ready);
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, err.text);
  const packages = new Set<string>();
  for (const url of readFileSync(log, "utf8").split("\n")) {
    const m = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m !== null) packages.add(m[1]!);
  }
  return packages;
}

test("sluice proxy starts without the simulator's chart packages", async (t) => {
  const dir = tempDir(t);
  const loaded = await packagesLoaded(dir, ["proxy", "-c", repoPath("examples/seed.yaml"), "--listen", "127.0.0.1:0", "--admin", "none"], /listening on/);
  assert.ok(loaded.has("@grpc/grpc-js") || loaded.has("pino"), `the recorder saw the proxy's own packages: ${[...loaded].join(", ")}`);
  assert.deepEqual(
    [...loaded].filter((p) => CHART_PACKAGES.test(`/node_modules/${p}/`)),
    [],
  );
});

test("sluice sim --out loads the chart packages (the recorder sees a lazy import)", async (t) => {
  const dir = tempDir(t);
  const loaded = await packagesLoaded(dir, ["sim", "--scenario", "seed", "--out", join(dir, "out")]);
  assert.ok(readdirSync(join(dir, "out")).includes("load.png"), "charts written");
  assert.ok(loaded.has("vega") && loaded.has("vega-lite") && loaded.has("@resvg/resvg-js"), [...loaded].join(", "));
});
