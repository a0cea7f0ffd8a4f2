// `sluice proxy --xds`, end to end: real proxies (the CLI, spawned) on an in-process
// AdsServer, real grpc-js clients and echo backends. The control plane is the one source of
// truth: an AdsServer.update() reaches every proxy following it, is applied without the
// clients reconnecting, and a control-plane outage keeps the config in force.
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { AdsServer } from "../../src/xds-server/ads-server.js";
import { runCli, tempFile } from "../support/cli.js";
import { deadPort, destinationRuleYaml, listenerYaml, parseConfig, serviceEntryYaml, startPods, type Pod } from "../support/cluster.js";
import { spawnSluice, type Sluice } from "../support/lines.js";

/** The control plane's config: ServiceEntry echo over these pods, round robin (so N calls reach N pods). */
function meshYaml(pods: readonly Pod[]): string {
  return `${serviceEntryYaml(
    "echo",
    pods.map((p) => p.port),
  )}\n---\n${destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }")}`;
}

async function stop(s: Sluice): Promise<number> {
  if (s.child.exitCode !== null) return s.child.exitCode;
  s.child.kill("SIGTERM");
  const [code] = (await once(s.child, "exit")) as [number];
  return code;
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

test("two proxies follow one control plane: both serve its backends, and an update reaches both without clients reconnecting", async () => {
  const pods = await startPods(3);
  const ads = new AdsServer(parseConfig(meshYaml(pods.slice(0, 2))));
  const adsPort = await ads.start("127.0.0.1", 0);
  const proxies: Sluice[] = [];
  const clients: grpc.Client[] = [];
  try {
    for (let i = 0; i < 2; i++) proxies.push(await spawnSluice(["--xds", `127.0.0.1:${adsPort}`, "--listen", "127.0.0.1:0"]));
    for (const p of proxies) {
      await p.out.waitFor(/xds update #\d+ in force \(config [0-9a-f]{8}: 1 cluster, 1 virtual host\)/);
      clients.push(echoClient(`127.0.0.1:${p.port}`));
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
    const errMarks = proxies.map((p) => p.err.mark());
    await ads.stop();
    for (const [i, p] of proxies.entries()) await p.err.waitFor(/lost the control plane at [^;]+; keeping the config in force, reconnecting/, errMarks[i]);
    for (const c of clients) assert.deepEqual([...(await podsReached(c, 3))].sort(), ["pod-1", "pod-2", "pod-3"]);
  } finally {
    for (const c of clients) c.close();
    for (const p of proxies) assert.equal(await stop(p), 0, p.err.text);
    await ads.stop();
    for (const p of pods) await p.stop();
  }
});

test("an unreachable control plane: the proxy listens after --xds-initial-wait, answers UNAVAILABLE, and takes the config once the control plane is up", async () => {
  const pods = await startPods(1);
  const port = await deadPort();
  const ads = new AdsServer(parseConfig(meshYaml(pods)));
  let proxy: Sluice | undefined;
  const client = { c: undefined as grpc.Client | undefined };
  try {
    proxy = await spawnSluice(["--xds", `127.0.0.1:${port}`, "--xds-initial-wait", "100ms", "--listen", "127.0.0.1:0"]);
    await proxy.err.waitFor(/no config from the control plane at 127\.0\.0\.1:\d+ within 100ms; starting with none \(RPCs get UNAVAILABLE\) and still trying/);
    client.c = echoClient(`127.0.0.1:${proxy.port}`);
    const before = await callUnary(client.c, Buffer.from("hi"));
    assert.equal(before.code, grpc.status.UNAVAILABLE, before.details);

    await ads.start("127.0.0.1", port);
    await proxy.out.waitFor(applied(1));
    assert.deepEqual([...(await podsReached(client.c, 2))], ["pod-1"]);
  } finally {
    client.c?.close();
    if (proxy !== undefined) assert.equal(await stop(proxy), 0, proxy.err.text);
    await ads.stop();
    for (const p of pods) await p.stop();
  }
});

test("-c with --xds holds the listener settings only: a ServiceEntry there is an error; a Proxy resource is used", async () => {
  const pods = await startPods(1);
  const ads = new AdsServer(parseConfig(meshYaml(pods)));
  const adsPort = await ads.start("127.0.0.1", 0);
  let proxy: Sluice | undefined;
  try {
    const mixed = tempFile("mixed.yaml", `${listenerYaml()}---\n${serviceEntryYaml("echo", [7001])}`);
    const r = await runCli(["proxy", "--xds", `127.0.0.1:${adsPort}`, "-c", mixed, "--admin", "none"]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /mixed\.yaml:\d+ ServiceEntry echo: with --xds, clusters and routes come from the control plane; the config files may hold only the Proxy resource/,
    );

    const listenerOnly = tempFile("proxy.yaml", listenerYaml("  mode: connection\n"));
    proxy = await spawnSluice(["--xds", `127.0.0.1:${adsPort}`, "-c", listenerOnly]);
    assert.match(proxy.out.text, /\(mode connection, transport/);
    const client = echoClient(`127.0.0.1:${proxy.port}`);
    try {
      assert.deepEqual([...(await podsReached(client, 2))], ["pod-1"]);
    } finally {
      client.close();
    }
    const none = await runCli(["proxy", "--admin", "none"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /give the config with -c FILE \(repeatable\), or a control plane with --xds HOST:PORT/);
  } finally {
    if (proxy !== undefined) assert.equal(await stop(proxy), 0, proxy.err.text);
    await ads.stop();
    for (const p of pods) await p.stop();
  }
});
