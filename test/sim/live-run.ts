// Runs a simulator scenario for real: grpc-js echo pods, sluice's Proxy in process (its
// endpoint set driven by the scenario's add events through an injected EndpointSource), and
// grpc-js clients on loopback sending at the scenario's rate. Each RPC a pod receives is
// recorded into the simulator's own Recorder, so that summarize() judges both runs alike.
// Supported: proxy layers, open-loop uniform arrivals, a constant service time, add events.
import * as grpc from "@grpc/grpc-js";
import type { ProxyConfig } from "../../src/config/types.js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import type { EndpointSource, ResolvedEndpoint } from "../../src/discovery/types.js";
import { Proxy } from "../../src/proxy/proxy.js";
import { Recorder } from "../../src/sim/recorder.js";
import type { Scenario } from "../../src/sim/scenario.js";
import type { BackendTimes, RunRecord } from "../../src/sim/summary.js";
import { startPods } from "../support/cluster.js";

const OK: number = grpc.status.OK;

export interface LiveRun extends RunRecord {
  readonly failed: number;
}

export async function runLive(scenario: Scenario, config: ProxyConfig): Promise<LiveRun> {
  const { clients: spec, backends: backendSpec } = scenario;
  if (spec.load.kind !== "rate" || spec.load.arrival !== "uniform") throw new Error("live runs take open-loop uniform arrivals only");
  if (backendSpec.serviceTime.kind !== "constant") throw new Error("live runs take a constant service time only");
  if (scenario.layer !== "proxy-connection" && scenario.layer !== "proxy-request") throw new Error("live runs go through the proxy");
  const adds = scenario.events.map((e) => {
    if (e.kind !== "add") throw new Error("live runs take add events only");
    return e;
  });
  const total = backendSpec.count + adds.reduce((n, e) => n + e.count, 0);
  const pods = await startPods(total);
  const recorder = new Recorder(scenario.bucketMs, scenario.measureFromMs);
  for (let i = 0; i < total; i++) recorder.addBackend(i);
  const times: { name: string; index: number; addedAt: number; removedAt: number | null }[] = pods.map((p, i) => ({
    name: p.stats.name,
    index: i,
    addedAt: i < backendSpec.count ? 0 : Infinity,
    removedAt: null,
  }));

  let push: (eps: readonly ResolvedEndpoint[]) => void = () => undefined;
  let up = backendSpec.count;
  const endpoints = (): ResolvedEndpoint[] => pods.slice(0, up).map((p) => ({ address: "127.0.0.1", port: p.port, weight: 1, labels: { pod: p.stats.name } }));
  const source: EndpointSource = {
    start: (onUpdate) => {
      push = onUpdate;
      onUpdate(endpoints());
    },
    stop: () => undefined,
  };
  const proxy = new Proxy(config, { endpointSource: () => source });
  const { port } = await proxy.start();
  const channels = Array.from({ length: spec.count * spec.channelsEach }, () => echoClient(`127.0.0.1:${port}`));

  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  pods.forEach((p, i) => p.stats.events.on("begin", () => recorder.sent(i, now())));
  let failed = 0;
  const work = new grpc.Metadata();
  work.set("x-echo-delay-ms", String(backendSpec.serviceTime.ms));
  const inFlight: Promise<unknown>[] = [];
  const gap = 1000 / spec.load.rps;

  // Each client sends at its rate on an absolute schedule (no drift), its channels in turn.
  const clientLoops = Array.from({ length: spec.count }, async (_, c) => {
    const mine = channels.slice(c * spec.channelsEach, (c + 1) * spec.channelsEach);
    for (let k = 0; ; k++) {
      const at = (c * spec.rampMs) / spec.count + k * gap;
      if (at >= scenario.durationMs) return;
      const wait = at - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inFlight.push(
        callUnary(mine[k % mine.length]!, Buffer.from("sim"), work, { deadline: Date.now() + 10_000 }).then((r) => {
          if (r.code !== OK) failed++;
        }),
      );
    }
  });
  const addLoops = adds.map(async (e) => {
    const wait = e.atMs - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    for (let i = 0; i < e.count; i++) times[up + i]!.addedAt = now();
    up += e.count;
    push(endpoints());
  });
  await Promise.all([...clientLoops, ...addLoops]);
  await Promise.all(inFlight);
  for (const ch of channels) ch.close();
  await proxy.stop(1000);
  for (const p of pods) await p.stop();
  const cluster = [...config.clusters.values()][0]!;
  return {
    scenario,
    layer: scenario.layer,
    policy: "live",
    cluster,
    recorder,
    events: 0,
    backends: times.filter((b): b is BackendTimes => Number.isFinite(b.addedAt)),
    failed,
  };
}
