// Runs a simulator scenario for real: grpc-js echo pods, sluice's Proxy in process (its
// endpoint set driven by the scenario's add events through an injected EndpointSource), and
// grpc-js clients on loopback sending the scenario's RPCs. Each RPC is recorded into the
// simulator's own Recorder, so that summarize() judges both runs alike.
// Supported: proxy layers, open-loop uniform arrivals, a constant service time, add events.
//
// The run keeps the scenario's time, not the wall clock's. What the proxy decides in
// connection mode depends only on the order of three things: a connection's first RPC (its
// pick), its maxRequestsPerConnection-th (its unpin and GOAWAY) and the endpoint updates.
// Sent on timers, that order is at the mercy of timer lag (a loaded machine delays some
// clients by hundreds of ms, which moves cycles across an add or across buckets). And a
// schedule kept on the wall clock is an open loop: its 600 RPC/s take ~0.6 of a core here
// (clients, proxy and pods share one event loop), so on a machine that gives the process a
// tenth of one, RPCs pile up (in grpc-js waiting for a replacement connection, in the proxy
// up to http2MaxRequests) until thousands pass their deadline. So the RPCs are sent in the
// order of their scheduled times, in rounds of at most one per client: a round starts when
// the one before it has ended (a closed loop), and an add happens between the rounds before
// and after its time. Each RPC is recorded at its scheduled time, on the pod its
// response names. The outcome is then a function of the schedule and of the proxy's and
// grpc-js's behaviour alone, however slowly the machine runs it.
import * as grpc from "@grpc/grpc-js";
import type { ProxyConfig } from "../../src/config/types.js";
import { seededRandom } from "../../src/core/random.js";
import { callUnary, echoClient, type CallResult } from "../../src/demo/echo-client.js";
import type { EndpointSource, ResolvedEndpoint } from "../../src/discovery/types.js";
import { Proxy } from "../../src/proxy/proxy.js";
import { Recorder } from "../../src/sim/recorder.js";
import type { BackendEvent, Scenario } from "../../src/sim/scenario.js";
import type { BackendTimes, RunRecord } from "../../src/sim/summary.js";
import { startPods } from "../support/cluster.js";

const OK: number = grpc.status.OK;

export interface LiveRun extends RunRecord {
  readonly failed: number;
  /** Rounds of RPCs sent (each waited for before the next): how the run was paced. */
  readonly rounds: number;
}

/** One RPC of the schedule: client `client`'s `k`th, due at `atMs` of scenario time. */
interface Send {
  readonly atMs: number;
  readonly client: number;
  readonly k: number;
}

type AddEvent = Extract<BackendEvent, { kind: "add" }>;

/**
 * Every client's RPCs in the order of their scheduled times: client c starts at its place in
 * the ramp plus a random point of its first gap (as the simulator starts it), then sends one
 * RPC per gap until the scenario ends.
 */
function schedule(scenario: Scenario, gap: number): Send[] {
  const { clients } = scenario;
  const random = seededRandom(scenario.seed);
  const sends: Send[] = [];
  for (let c = 0; c < clients.count; c++) {
    const start = (c * clients.rampMs) / clients.count + random() * gap;
    for (let k = 0; start + k * gap < scenario.durationMs; k++) sends.push({ atMs: start + k * gap, client: c, k });
  }
  return sends.sort((a, b) => a.atMs - b.atMs || a.client - b.client);
}

export async function runLive(scenario: Scenario, config: ProxyConfig): Promise<LiveRun> {
  const { clients: spec, backends: backendSpec } = scenario;
  if (spec.load.kind !== "rate" || spec.load.arrival !== "uniform") throw new Error("live runs take open-loop uniform arrivals only");
  if (backendSpec.serviceTime.kind !== "constant") throw new Error("live runs take a constant service time only");
  if (scenario.layer !== "proxy-connection" && scenario.layer !== "proxy-request") throw new Error("live runs go through the proxy");
  const adds = scenario.events
    .map((e): AddEvent => {
      if (e.kind !== "add") throw new Error("live runs take add events only");
      return e;
    })
    .sort((a, b) => a.atMs - b.atMs);
  const total = backendSpec.count + adds.reduce((n, e) => n + e.count, 0);
  const pods = await startPods(total);
  const podIndex = new Map(pods.map((p, i) => [p.stats.name, i]));
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

  // The cluster takes an endpoint set synchronously: the next RPC is balanced over it.
  const add = (e: AddEvent): void => {
    for (let i = 0; i < e.count; i++) times[up + i]!.addedAt = e.atMs;
    up += e.count;
    push(endpoints());
  };

  let failed = 0;
  const work = new grpc.Metadata();
  work.set("x-echo-delay-ms", String(backendSpec.serviceTime.ms));
  const record = (s: Send, r: CallResult): void => {
    const pod = (r.headers ?? r.trailers)?.get("x-pod")[0];
    const index = typeof pod === "string" ? podIndex.get(pod) : undefined;
    if (r.code !== OK || index === undefined) {
      failed++;
      return;
    }
    recorder.sent(index, s.atMs);
  };
  const send = (s: Send): Promise<void> => {
    // A client's RPCs go to its channels in turn.
    const channel = channels[s.client * spec.channelsEach + (s.k % spec.channelsEach)]!;
    // A hang guard, not a speed limit: a round has at most one RPC per client in flight.
    return callUnary(channel, Buffer.from("sim"), work, { deadline: Date.now() + 10_000 }).then((r) => record(s, r));
  };

  // A round holds at most one RPC per client, so that a client's RPC after its connection's
  // last one is sent once that last one has ended: its GOAWAY (sent before the response) has
  // then reached the client, and the RPC opens a new connection, as in the simulator.
  let round: Promise<void>[] = [];
  const inRound = new Set<number>();
  let rounds = 0;
  const endRound = async (): Promise<void> => {
    if (round.length === 0) return;
    await Promise.all(round);
    round = [];
    inRound.clear();
    rounds++;
  };
  let nextAdd = 0;
  for (const s of schedule(scenario, 1000 / spec.load.rps)) {
    // An add at t comes before the RPCs due at t (the simulator's add timers are set first).
    while (nextAdd < adds.length && adds[nextAdd]!.atMs <= s.atMs) {
      await endRound();
      add(adds[nextAdd++]!);
    }
    if (inRound.has(s.client)) await endRound();
    inRound.add(s.client);
    round.push(send(s));
  }
  await endRound();
  for (; nextAdd < adds.length && adds[nextAdd]!.atMs < scenario.durationMs; nextAdd++) add(adds[nextAdd]!);

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
    rounds,
  };
}
