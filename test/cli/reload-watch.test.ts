// The reloader's watch, in process: edits made while the proxy started, and a config
// directory replaced as a whole, are still seen (found in review: both went unnoticed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigReloader, proxyReloadTarget } from "../../src/cli/reload.js";
import { loadConfigFiles } from "../../src/config/load.js";
import { Proxy } from "../../src/proxy/proxy.js";
import { listenerYaml, serviceEntryYaml, startPods, type Pod } from "../support/cluster.js";
import { replaceFile } from "../support/lines.js";

const docs = (...d: string[]): string => d.join("\n---\n");
const config = (pod: Pod): string => docs(listenerYaml(), serviceEntryYaml("echo", [pod.port]));

/** A reloader's output lines, with a wait for the next one that matches. */
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

async function running(file: string): Promise<{ proxy: Proxy; texts: string }> {
  const texts = await ConfigReloader.readTexts([file]);
  const loaded = await loadConfigFiles([file]);
  assert.ok(loaded.ok);
  const proxy = new Proxy(loaded.config);
  await proxy.start();
  return { proxy, texts };
}

const ports = (proxy: Proxy): number[] =>
  proxy
    .cluster("echo|50051|")!
    .endpointList()
    .map((e) => e.port);

test("a file changed while the proxy started (before the watch) is reloaded as soon as the reloader starts", async () => {
  const pods = await startPods(2);
  const dir = mkdtempSync(join(tmpdir(), "sluice-reload-"));
  const file = join(dir, "sluice.yaml");
  writeFileSync(file, config(pods[0]!));
  const { proxy, texts } = await running(file);
  replaceFile(file, config(pods[1]!)); // while the clusters warmed
  const lines = new Lines();
  const reloader = new ConfigReloader([file], {}, proxyReloadTarget(proxy), lines.io, 20);
  try {
    const applied = lines.next(/config reload #1 applied/);
    await reloader.start(texts);
    await applied;
    assert.deepEqual(ports(proxy), [pods[1]!.port]);
  } finally {
    reloader.close();
    await proxy.stop(100);
    for (const p of pods) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the config directory replaced as a whole (removed, a new one renamed in): it and later edits are reloaded", async () => {
  const pods = await startPods(3);
  const dir = mkdtempSync(join(tmpdir(), "sluice-reload-"));
  const file = join(dir, "sluice.yaml");
  writeFileSync(file, config(pods[0]!));
  const { proxy, texts } = await running(file);
  const lines = new Lines();
  const reloader = new ConfigReloader([file], {}, proxyReloadTarget(proxy), lines.io, 20);
  try {
    await reloader.start(texts);
    const first = lines.next(/config reload #1 applied/);
    const staged = `${dir}.new`;
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
  } finally {
    reloader.close();
    await proxy.stop(100);
    for (const p of pods) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
