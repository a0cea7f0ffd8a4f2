// Steady load through an xds:/// channel for the load-weighting tests: echo backends with a
// fixed service time each, and a client that keeps a fixed number of calls in flight.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { Status } from "../../src/core/status.js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { after } from "node:test";
import * as xds from "@grpc/grpc-js-xds";
import { AdsServer, type AdsServerOptions } from "../../src/xds-server/ads-server.js";
import { bootstrapGrpcJsXds } from "./ads.js";
import { parseConfig, serviceEntryYaml, type Pod } from "./cluster.js";

/** Holds every response's status for `ms`: the backend's own service time, whatever the request. */
function serviceTime(ms: number): grpc.ServerInterceptor {
  return (_method, call) =>
    new grpc.ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        setTimeout(() => next(status), ms);
      },
    });
}

/** Echo pods `pod-1`... answering after `delaysMs[i]` each. */
export function startTimedPods(delaysMs: readonly number[]): Promise<Pod[]> {
  return Promise.all(delaysMs.map((ms, i) => startEchoServer(`pod-${i + 1}`, "127.0.0.1", 0, { interceptors: [serviceTime(ms)] })));
}

/** `inFlight` calls at all times, each started again as soon as one ends. */
export class SteadyLoad {
  private counting = false;
  private readonly counts = new Map<string, number>();
  readonly latency = new Map<string, number>();
  private stopped = false;
  private readonly done: Promise<void>[];
  private sampled: (() => void) | null = null;

  constructor(
    private readonly client: grpc.Client,
    inFlight: number,
  ) {
    this.done = Array.from({ length: inFlight }, () => this.worker());
  }

  /** How many of the next `n` calls started from now on each pod answered. */
  sample(n: number): Promise<Map<string, number>> {
    this.counts.clear();
    this.counting = true;
    return new Promise((resolve) => {
      this.sampled = () => {
        if ([...this.counts.values()].reduce((a, b) => a + b, 0) < n) return;
        this.counting = false;
        this.sampled = null;
        resolve(new Map(this.counts));
      };
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.done);
  }

  private async worker(): Promise<void> {
    while (!this.stopped) {
      const counted = this.counting;
      const t0 = performance.now();
      const r = await callUnary(this.client, Buffer.from("hi"));
      const dt = performance.now() - t0;
      assert.equal(r.code, Status.OK, r.details);
      if (!counted || !this.counting) continue;
      const pod = String(r.headers?.get("x-pod")[0] ?? "?");
      this.counts.set(pod, (this.counts.get(pod) ?? 0) + 1);
      this.latency.set(pod, (this.latency.get(pod) ?? 0) + dt);
      this.sampled?.();
    }
  }
}

/** pod-3's calls as a fraction of the mean of pod-1's and pod-2's. */
export function thirdPodShare(counts: ReadonlyMap<string, number>): number {
  const fast = ((counts.get("pod-1") ?? 0) + (counts.get("pod-2") ?? 0)) / 2;
  return (counts.get("pod-3") ?? 0) / fast;
}

/**
 * The load-weighting setup, for a test file of its own (grpc-js-xds's bootstrap is global):
 * echo pods answering after `delaysMs`, sluice's control plane serving them as `echo` with
 * `options`, grpc-js-xds bootstrapped to it as `nodeId`, and a steady load on xds:///echo.
 * All of it stops when the file's tests end.
 */
export async function xdsEchoUnderLoad(
  delaysMs: readonly number[],
  options: AdsServerOptions,
  nodeId: string,
): Promise<{ pods: Pod[]; ads: AdsServer; load: SteadyLoad }> {
  const pods = await startTimedPods(delaysMs);
  const ads = new AdsServer(
    parseConfig(
      serviceEntryYaml(
        "echo",
        pods.map((p) => p.port),
      ),
    ),
    options,
  );
  bootstrapGrpcJsXds(await ads.start("127.0.0.1", 0), nodeId);
  xds.register();
  const client = echoClient("xds:///echo");
  const load = new SteadyLoad(client, 12);
  after(async () => {
    await load.stop();
    client.close();
    await ads.stop();
    for (const p of pods) await p.stop();
  });
  return { pods, ads, load };
}
