// `sluice proxy --xds` and signals, end to end (the CLI spawned, an in-process AdsServer):
// SIGHUP without -c files is no reason to die, and a SIGUSR2 takeover while the control plane
// is down keeps the proxy that has a config instead of replacing it with one that has none.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { serveAds } from "../support/ads.js";
import { clientFor } from "../support/calls.js";
import { endWith } from "../support/cli.js";
import { parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { spawnSluice, type Sluice } from "../support/lines.js";

/** Waits for `pattern` on the proxy's stdout (or stderr), failing at once if the proxy exits first. */
function line(proxy: Sluice, pattern: RegExp, stream: "out" | "err" = "out"): Promise<RegExpExecArray> {
  const exited = new Promise<never>((_, reject) => {
    const onExit = (code: number | null, signal: string | null): void =>
      reject(new Error(`the proxy exited (${signal ?? code}) before printing ${pattern}:\n${proxy.out.text}\n${proxy.err.text}`));
    if (proxy.child.exitCode !== null || proxy.child.signalCode !== null) onExit(proxy.child.exitCode, proxy.child.signalCode);
    else proxy.child.once("exit", onExit);
  });
  exited.catch(() => undefined);
  return Promise.race([proxy[stream].waitFor(pattern), exited]);
}

test("SIGHUP with --xds and no -c files: nothing to reload, and the proxy keeps serving", async (t) => {
  const pods = await scriptedPods(t, 1);
  const { address } = await serveAds(
    t,
    parseConfig(
      serviceEntryYaml(
        "echo",
        pods.map((p) => p.port),
      ),
    ),
  );
  const proxy = await spawnSluice(["--xds", address, "--listen", "127.0.0.1:0"]);
  endWith(t, proxy.child, "SIGKILL");
  const client = clientFor(t, `127.0.0.1:${proxy.port}`);
  await proxy.out.waitFor(/xds update #\d+ in force/);
  proxy.child.kill("SIGHUP");
  await line(proxy, /SIGHUP: nothing to reload \(no -c files; clusters and routes come from the control plane at 127\.0\.0\.1:\d+\); still serving/);
  const r = await callUnary(client, Buffer.from("hi"));
  assert.equal(r.code, grpc.status.OK, r.details);
  assert.equal(proxy.child.exitCode, null);
  const exited = once(proxy.child, "exit");
  proxy.child.kill("SIGTERM");
  assert.deepEqual(await exited, [0, null]);
  assert.doesNotMatch(proxy.out.text, /lost the control plane/, "closing the control-plane stream at drain is no loss");
});

test("SIGUSR2 while the control plane is down: the successor gets no config, exits, and the running proxy keeps serving", async (t) => {
  const pods = await scriptedPods(t, 1);
  const { ads, address } = await serveAds(
    t,
    parseConfig(
      serviceEntryYaml(
        "echo",
        pods.map((p) => p.port),
      ),
    ),
  );
  const proxy = await spawnSluice(["--xds", address, "--xds-initial-wait", "300ms", "--listen", "127.0.0.1:0"]);
  endWith(t, proxy.child, "SIGKILL");
  const client = clientFor(t, `127.0.0.1:${proxy.port}`);
  // With a 300ms initial wait a loaded machine may start the proxy before the first config
  // comes ("applied" then, not "in force"): either way it serves the control plane's config.
  await proxy.out.waitFor(/xds update #\d+ (in force|applied)/);
  await ads.stop();
  await proxy.out.waitFor(/lost the control plane/);
  proxy.child.kill("SIGUSR2");
  // The successor cannot run: it says why on stderr, which it shares with the running proxy.
  await line(proxy, /no config from the control plane at 127\.0\.0\.1:\d+ within 300ms; not taking over \(the running proxy keeps serving\)/, "err");
  await line(proxy, /takeover failed, still serving: pid \d+ exited before it was ready \(code 1\)/);
  const r = await callUnary(client, Buffer.from("hi"));
  assert.equal(r.code, grpc.status.OK, r.details);
  const exited = once(proxy.child, "exit");
  proxy.child.kill("SIGTERM");
  assert.deepEqual(await exited, [0, null]);
});
