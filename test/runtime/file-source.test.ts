// The file source, in process: edits made while the proxy started, and a config directory
// replaced as a whole, are still seen (found in review: both went unnoticed); with --xds
// (listener only) a reload that brings a ServiceEntry is not applied.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProxyConfig } from "../../src/config/types.js";
import { Proxy } from "../../src/proxy/proxy.js";
import { ConfigApplier, type AppliedReload } from "../../src/runtime/config-applier.js";
import { FileSource } from "../../src/runtime/file-source.js";
import { proxyReloadTarget } from "../../src/runtime/proxy-target.js";
import { tempDir } from "../support/cli.js";
import { listenerYaml, serviceEntryYaml, type Pod } from "../support/cluster.js";
import { replaceFile } from "../support/lines.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer, type Owner } from "../support/teardown.js";

const docs = (...d: string[]): string => d.join("\n---\n");
const config = (pod: Pod): string => docs(listenerYaml(), serviceEntryYaml("echo", [pod.port]));

/** The lines printed, with a wait for the next one that matches. */
class Lines {
  readonly all: string[] = [];
  private waiters: { re: RegExp; resolve: (line: string) => void }[] = [];
  readonly io = { out: (l: string): void => this.push(l), err: (l: string): void => this.push(l) };
  private push(line: string): void {
    this.all.push(line);
    for (const w of this.waiters.filter((x) => x.re.test(line))) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(line);
    }
  }
  next(re: RegExp): Promise<string> {
    return new Promise((resolve) => this.waiters.push({ re, resolve }));
  }
}

/**
 * A file source over `file` giving to an applier that applies nothing yet, and a proxy started
 * on its first config; when `owner` ends the source stops first, then the applier, then the proxy.
 */
async function running(owner: Owner, file: string, lines: Lines): Promise<{ proxy: Proxy; applier: ConfigApplier }> {
  const source = new FileSource({ files: [file], overrides: {}, command: "sluice proxy", io: lines.io, debounceMs: 20 });
  const applier = new ConfigApplier("sluice proxy", lines.io);
  const started: { proxy?: Proxy } = {};
  defer(owner, async () => {
    source.stop();
    applier.close();
    await started.proxy?.stop(100);
  });
  const start = await source.start(applier);
  assert.ok(start !== undefined);
  const proxy = new Proxy(start.snapshot.config);
  started.proxy = proxy;
  await proxy.start();
  return { proxy, applier };
}

const ports = (proxy: Proxy): number[] =>
  proxy
    .cluster("echo|50051|")!
    .endpointList()
    .map((e) => e.port);

test("a file changed while the proxy started (before anything is applied to it) is reloaded as soon as the proxy takes reloads", async (t) => {
  const pods = await scriptedPods(t, 2);
  const file = join(tempDir(t, "sluice-reload-"), "sluice.yaml");
  writeFileSync(file, config(pods[0]!));
  const lines = new Lines();
  const { proxy, applier } = await running(t, file, lines);
  replaceFile(file, config(pods[1]!)); // while the clusters warmed
  const applied = lines.next(/config reload #1 applied/);
  applier.attach(proxyReloadTarget(proxy));
  await applied;
  assert.deepEqual(ports(proxy), [pods[1]!.port]);
});

test("the config directory replaced as a whole (removed, a new one renamed in): it and later edits are reloaded", async (t) => {
  const pods = await scriptedPods(t, 3);
  const dir = tempDir(t, "sluice-reload-");
  const file = join(dir, "sluice.yaml");
  writeFileSync(file, config(pods[0]!));
  const lines = new Lines();
  const { proxy, applier } = await running(t, file, lines);
  applier.attach(proxyReloadTarget(proxy));
  const first = lines.next(/config reload #1 applied/);
  const staged = `${dir}.new`; // renamed over dir: its teardown removes it
  mkdirSync(staged);
  writeFileSync(join(staged, "sluice.yaml"), config(pods[1]!));
  rmSync(dir, { recursive: true });
  renameSync(staged, dir);
  await first;
  assert.deepEqual(ports(proxy), [pods[1]!.port]);
  const second = lines.next(/config reload #2 applied/);
  replaceFile(file, config(pods[2]!)); // an ordinary edit in the new directory
  await second;
  assert.deepEqual(ports(proxy), [pods[2]!.port]);
});

test("listener only (--xds): a reload whose files gain a ServiceEntry is not applied, and the rejection is said (on stdout, as the reloads applied are)", async (t) => {
  const file = join(tempDir(t, "sluice-reload-"), "sluice.yaml");
  writeFileSync(file, listenerYaml());
  const out: string[] = [];
  const err: string[] = [];
  const said = new Lines();
  const io = { out: (l: string): void => (out.push(l), said.io.out(l)), err: (l: string): void => (err.push(l), said.io.err(l)) };
  const applied: ProxyConfig[] = [];
  const done: AppliedReload = { summary: "applied", noop: false, warnings: [], fields: {} };
  const source = new FileSource({ files: [file], overrides: {}, command: "sluice proxy", io, listenerOnly: { server: "cp" }, debounceMs: 20 });
  const applier = new ConfigApplier("sluice proxy", io);
  applier.attach({ apply: (c) => (applied.push(c), Promise.resolve(done)) });
  defer(t, () => {
    source.stop();
    applier.close();
  });
  const start = await source.start(applier);
  assert.ok(start !== undefined);
  assert.equal(start.snapshot.config.clusters.size, 0);
  const rejected = said.next(/rejected/);
  replaceFile(file, docs(listenerYaml(), serviceEntryYaml("other", [7009])));
  source.reread("SIGHUP"); // loaded now; the watch's reload after it finds the texts unchanged
  await rejected;
  assert.deepEqual(
    out.filter((l) => /rejected/.test(l)),
    [
      "sluice proxy: config reload rejected, keeping the running config: with --xds the config files may hold only the Proxy resource (clusters and routes come from the control plane)",
    ],
  );
  assert.equal(applied.length, 0);
  assert.deepEqual(
    out.filter((l) => /applied/.test(l)),
    [],
    "no reload applied line",
  );
  assert.deepEqual(err, [], "the process runs: nothing on stderr but the log");
});
