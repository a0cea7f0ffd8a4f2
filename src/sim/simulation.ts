// One simulation run: clients send RPCs through a balancing layer to backends, on a virtual
// clock, while the scenario's events add, remove, slow down or break backends.
import type { Cluster, ProxyConfig } from "../config/types.js";
import { ErrorCode, SluiceError } from "../core/errors.js";
import { seededRandom, type Random } from "../core/random.js";
import { SimBackend } from "./backend.js";
import { sampler } from "./distribution.js";
import { SimChannel, type Balancing, type SimContext, type SimRpc } from "./layer.js";
import { createBalancing } from "./layers.js";
import { Recorder } from "./recorder.js";
import type { BackendEvent, Layer, Scenario } from "./scenario.js";
import { SimClock } from "./sim-clock.js";

export interface SimOptions {
  readonly scenario: Scenario;
  readonly config: ProxyConfig;
  /** The cluster whose traffic policy applies. */
  readonly cluster: Cluster;
  readonly layer: Layer;
  /** Called as simulated time passes, with the fraction done (0..1). */
  readonly onProgress?: (fraction: number) => void;
}

export interface SimRun {
  readonly scenario: Scenario;
  readonly layer: Layer;
  readonly policy: string;
  readonly cluster: Cluster;
  readonly backends: readonly SimBackend[];
  readonly recorder: Recorder;
  /** Timers fired: the run's event count. */
  readonly events: number;
  /** Simulated time at the end (in-flight RPCs finish after the scenario's duration). */
  readonly endMs: number;
}

/** An event names a backend the run does not have at that moment (never added, or already removed). */
export class ScenarioEventError extends SluiceError {
  override readonly name = "ScenarioEventError";
  readonly code = ErrorCode.SCENARIO_EVENT;
}

/** The run would hold more state than the simulator allows (the client layer's channel x backend views). */
export class SimulationTooLargeError extends SluiceError {
  override readonly name = "SimulationTooLargeError";
  readonly code = ErrorCode.SIM_TOO_LARGE;
}

/** Channels x backends the client layer may hold (each a ClusterRuntime entry). */
const MAX_CLIENT_VIEWS = 2_000_000;

/** How long in-flight RPCs get to finish after the last one starts. */
const DRAIN_MS = 60_000;

export function simulate(opts: SimOptions): SimRun {
  const { scenario } = opts;
  if (opts.layer === "client") {
    // Every channel holds its own view of every backend (and its own outlier timers).
    const backendsEver = scenario.backends.count + scenario.events.reduce((n, e) => n + (e.kind === "add" ? e.count : e.kind === "restart" ? 1 : 0), 0);
    const views = scenario.clients.count * scenario.clients.channelsEach * backendsEver;
    if (views > MAX_CLIENT_VIEWS)
      throw new SimulationTooLargeError(
        `the client layer would hold ${views.toLocaleString("en-US")} channel x backend views; at most ${MAX_CLIENT_VIEWS.toLocaleString("en-US")} (fewer channels or backends)`,
      );
  }
  const clock = new SimClock();
  const random = seededRandom(scenario.seed);
  const recorder = new Recorder(scenario.bucketMs, scenario.measureFromMs);
  const backends: SimBackend[] = [];
  const byKey = new Map<string, SimBackend>();
  const ctx: SimContext = { clock, random, recorder, scenario, config: opts.config, cluster: opts.cluster, backends: byKey };
  const balancing = createBalancing(opts.layer, ctx);
  const serviceTime = sampler(scenario.backends.serviceTime, random);

  const addBackend = (): SimBackend => {
    const n = backends.length + 1;
    const b = new SimBackend(
      `pod-${n}`,
      n - 1,
      `10.0.${n >> 8}.${n & 255}`,
      50051,
      clock.now(),
      clock,
      random,
      serviceTime,
      scenario.backends.concurrency,
      scenario.failMs,
    );
    backends.push(b);
    byKey.set(b.key, b);
    recorder.addBackend(b.index);
    return b;
  };
  const alive = (): SimBackend[] => backends.filter((b) => b.alive);
  const named = (name: string): SimBackend => {
    const b = backends.find((x) => x.name === name);
    if (b === undefined) throw new ScenarioEventError(`scenario ${scenario.name}: no backend ${name} at ${clock.now() / 1000}s`);
    if (b.removedAt !== null)
      throw new ScenarioEventError(
        `scenario ${scenario.name}: ${name} was removed at ${b.removedAt / 1000}s; nothing can happen to it at ${clock.now() / 1000}s`,
      );
    return b;
  };
  const remove = (b: SimBackend): void => {
    if (!b.alive) return;
    b.alive = false;
    b.removedAt = clock.now();
    balancing.setBackends(alive());
  };

  for (let i = 0; i < scenario.backends.count; i++) addBackend();
  balancing.setBackends(alive());

  const apply = (e: BackendEvent): void => {
    switch (e.kind) {
      case "add":
        for (let i = 0; i < e.count; i++) addBackend();
        balancing.setBackends(alive());
        return;
      case "remove":
        remove(named(e.backend));
        return;
      case "slow":
        named(e.backend).slowFactor = e.factor;
        return;
      case "fail":
        named(e.backend).errorRate = e.errorRate;
        return;
      case "restart":
        remove(named(e.backend));
        clock.setTimer(e.downMs, () => {
          addBackend();
          balancing.setBackends(alive());
        });
        return;
    }
  };
  for (const e of scenario.events) clock.setTimer(e.atMs, () => apply(e));

  startClients(scenario, clock, random, recorder, balancing);

  // Connections per backend at the end of every bucket.
  const sample = (): void => {
    const bucket = Math.round(clock.now() / scenario.bucketMs) - 1;
    recorder.sampleConnections(bucket, balancing.connectionsPerBackend(backends.length));
    if (clock.now() < scenario.durationMs) clock.setTimer(scenario.bucketMs, sample);
  };
  clock.setTimer(scenario.bucketMs, sample);

  const step = Math.max(scenario.bucketMs, Math.ceil(scenario.durationMs / 200));
  for (let t = step; t < scenario.durationMs; t += step) {
    clock.run(t);
    opts.onProgress?.(t / scenario.durationMs);
  }
  clock.run(scenario.durationMs);
  // No new RPCs start now; those in flight finish (bounded).
  clock.run(scenario.durationMs + DRAIN_MS);
  opts.onProgress?.(1);
  balancing.stop();
  return { scenario, layer: opts.layer, policy: balancing.policyName, cluster: opts.cluster, backends, recorder, events: clock.fired, endMs: clock.now() };
}

/** Every client's channels and its arrival process (open loop) or its RPCs in flight (closed loop). */
function startClients(scenario: Scenario, clock: SimClock, random: Random, recorder: Recorder, balancing: Balancing): void {
  const { clients } = scenario;
  const end = scenario.durationMs;
  for (let c = 0; c < clients.count; c++) {
    const request = { header: (): undefined => undefined, path: "/sim.Service/Call", authority: "sim", sourceIp: `10.1.${c >> 8}.${(c & 255) + 1}` };
    const channels: SimChannel[] = [];
    for (let i = 0; i < clients.channelsEach; i++) channels.push(new SimChannel(c * clients.channelsEach + i, request));
    let turn = 0;
    const nextChannel = (): SimChannel => channels[turn++ % channels.length]!;
    const load = clients.load;
    if (load.kind === "rate") {
      const meanGap = 1000 / load.rps;
      const gap = load.arrival === "poisson" ? (): number => -meanGap * Math.log(1 - random()) : (): number => meanGap;
      const arrive = (): void => {
        if (clock.now() >= end) return;
        startRpc(nextChannel(), clock, recorder, balancing, null);
        clock.setTimer(gap(), arrive);
      };
      // Clients start at random points of their first gap (after their place in the ramp), not in lockstep.
      clock.setTimer((c * clients.rampMs) / clients.count + random() * meanGap, arrive);
    } else {
      const again = (reached: boolean): void => {
        if (clock.now() >= end) return;
        // An RPC that failed before reaching a backend took no time: wait a little, or the loop would spin at one instant.
        if (reached) startRpc(nextChannel(), clock, recorder, balancing, again);
        else clock.setTimer(1, () => startRpc(nextChannel(), clock, recorder, balancing, again));
      };
      const startAt = (c * clients.rampMs) / clients.count;
      for (let i = 0; i < load.inFlight; i++) clock.setTimer(startAt + random(), () => startRpc(nextChannel(), clock, recorder, balancing, again));
    }
  }
}

function startRpc(channel: SimChannel, clock: SimClock, recorder: Recorder, balancing: Balancing, then: ((reached: boolean) => void) | null): void {
  recorder.started++;
  const startedAt = clock.now();
  let done = false;
  const rpc: SimRpc = {
    channel,
    startedAt,
    finish: (backend, failure) => {
      if (done) return;
      done = true;
      recorder.ended(startedAt, clock.now(), backend, failure);
      then?.(backend >= 0);
    },
  };
  balancing.send(rpc);
}
