// `sluice proxy --xds`, end to end: real proxies (the CLI, spawned) on an in-process
// AdsServer, real grpc-js clients and echo backends. The control plane is the one source of
// truth: an AdsServer.update() reaches every proxy following it, is applied without the
// clients reconnecting, and a control-plane outage keeps the config in force.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { AdsServer } from "../../src/xds-server/ads-server.js";
import { serveAds } from "../support/ads.js";
import { clientFor } from "../support/calls.js";
import { runCli, tempFile } from "../support/cli.js";
import { deadPort, destinationRuleYaml, listenerYaml, parseConfig, serviceEntryYaml, type Pod } from "../support/cluster.js";
import { exitsCleanly, spawnSluice, type Sluice } from "../support/lines.js";
import { scriptedPods } from "../support/scripted-pods.js";
import { defer } from "../support/teardown.js";

/** The control plane's config: ServiceEntry echo over these pods, round robin (so N calls reach N pods). */
function meshYaml(pods: readonly Pod[]): string {
  return `${serviceEntryYaml(
    "echo",
    pods.map((p) => p.port),
  )}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }")}`;
}

/** The pods `n` sequential calls on `client` reached (failing the test on any error). */
async function podsReached(client: grpc.Client, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await callUnary(client, Buffer.from("hi"));
    assert.equal(r.code, grpc.status.OK, r.details);
    const pod = r.headers?.get("x-pod")[0];
    if (typeof pod === "string") seen.add(pod);
  }
  return seen;
}

/** Records every connectivity state the channel goes through from now on. */
function watchStates(client: grpc.Client): { states: grpc.connectivityState[]; stop(): void } {
  const channel = client.getChannel();
  const states: grpc.connectivityState[] = [];
  let stopped = false;
  const watch = (current: grpc.connectivityState): void => {
    channel.watchConnectivityState(current, Infinity, () => {
      if (stopped) return;
      const next = channel.getConnectivityState(false);
      states.push(next);
      watch(next);
    });
  };
  watch(channel.getConnectivityState(false));
  return {
    states,
    stop: () => {
      stopped = true;
    },
  };
}

const applied = (n: number): RegExp => new RegExp(`xds update #${n} applied \\(([^)]*)\\): (.*)\\n`);

test("two proxies follow one control plane: both serve its backends, and an update reaches both without clients reconnecting", async (t) => {
  const pods = await scriptedPods(t, 3);
  const { ads, address } = await serveAds(t, parseConfig(meshYaml(pods.slice(0, 2))));
  const proxies: Sluice[] = [];
  const clients: grpc.Client[] = [];
  for (let i = 0; i < 2; i++) {
    const proxy = await spawnSluice(["--xds", address, "--listen", "127.0.0.1:0"]);
    exitsCleanly(t, proxy);
    proxies.push(proxy);
  }
  for (const p of proxies) {
    await p.out.waitFor(/xds update #\d+ in force \(config [0-9a-f]{8}: 1 cluster, 1 virtual host\)/);
    clients.push(clientFor(t, `127.0.0.1:${p.port}`));
  }
  for (const c of clients) assert.deepEqual([...(await podsReached(c, 4))].sort(), ["pod-1", "pod-2"]);
  const watches = clients.map(watchStates);

  const marks = proxies.map((p) => p.out.mark());
  ads.update(parseConfig(meshYaml(pods)));
  const digests: string[] = [];
  for (const [i, p] of proxies.entries()) {
    const m = await p.out.waitFor(/xds update #(\d+) applied \(config ([0-9a-f]{8}): ([^)]*)\): (.*)\n/, marks[i]);
    assert.match(m[4] ?? "", /~echo\|50051\|\(endpoints\)/);
    digests.push(m[2] ?? "");
  }
  assert.equal(digests[0], digests[1], "both proxies run the same config");
  for (const c of clients) assert.deepEqual([...(await podsReached(c, 6))].sort(), ["pod-1", "pod-2", "pod-3"]);
  // The channels stayed READY throughout: the update was applied under the open connections.
  for (const w of watches) {
    w.stop();
    assert.deepEqual(w.states, []);
  }

  // Control plane gone: each proxy says so and keeps serving the last config.
  const lostMarks = proxies.map((p) => p.out.mark());
  await ads.stop();
  for (const [i, p] of proxies.entries()) await p.out.waitFor(/lost the control plane at [^;]+; keeping the config in force, reconnecting/, lostMarks[i]);
  for (const c of clients) assert.deepEqual([...(await podsReached(c, 3))].sort(), ["pod-1", "pod-2", "pod-3"]);
});

test("an unreachable control plane: the proxy listens after --xds-initial-wait, answers UNAVAILABLE, and takes the config once the control plane is up", async (t) => {
  const pods = await scriptedPods(t, 1);
  const port = await deadPort();
  const ads = new AdsServer(parseConfig(meshYaml(pods)));
  defer(t, () => ads.stop());
  const proxy = await spawnSluice(["--xds", `127.0.0.1:${port}`, "--xds-initial-wait", "100ms", "--listen", "127.0.0.1:0"]);
  exitsCleanly(t, proxy);
  await proxy.out.waitFor(/no config from the control plane at 127\.0\.0\.1:\d+ within 100ms; starting with none \(RPCs get UNAVAILABLE\) and still trying/);
  const client = clientFor(t, `127.0.0.1:${proxy.port}`);
  const before = await callUnary(client, Buffer.from("hi"));
  assert.equal(before.code, grpc.status.UNAVAILABLE, before.details);

  await ads.start("127.0.0.1", port);
  await proxy.out.waitFor(applied(1));
  assert.deepEqual([...(await podsReached(client, 2))], ["pod-1"]);
});

test("-c with --xds holds the listener settings only: a ServiceEntry there is an error; a Proxy resource is used", async (t) => {
  const pods = await scriptedPods(t, 1);
  const { address } = await serveAds(t, parseConfig(meshYaml(pods)));
  const mixed = tempFile("mixed.yaml", `${listenerYaml()}---\n${serviceEntryYaml("echo", [7001])}`);
  const r = await runCli(["proxy", "--xds", address, "-c", mixed, "--admin", "none"]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /mixed\.yaml:\d+ ServiceEntry echo: with --xds, clusters and routes come from the control plane; the config files may hold only the Proxy resource/,
  );

  const listenerOnly = tempFile("proxy.yaml", listenerYaml("  mode: connection\n"));
  const proxy = await spawnSluice(["--xds", address, "-c", listenerOnly]);
  exitsCleanly(t, proxy);
  assert.match(proxy.out.text, /\(mode connection, transport/);
  const client = clientFor(t, `127.0.0.1:${proxy.port}`);
  assert.deepEqual([...(await podsReached(client, 2))], ["pod-1"]);
  const none = await runCli(["proxy", "--admin", "none"]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /give the config with -c FILE \(repeatable\), or a control plane with --xds HOST:PORT/);
});
