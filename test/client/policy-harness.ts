// Real grpc-js echo pods on loopback and real grpc-js clients whose service config names a
// sluice/client policy, for the wrapper policies' integration tests.
import * as grpc from "@grpc/grpc-js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { echoClient, callUnary, type CallResult } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import type { Pod } from "../support/cluster.js";

export interface Pods {
  readonly pods: Pod[];
  /** Indexes (0-based) of the pods answering UNAVAILABLE to every call now. */
  readonly failing: Set<number>;
  /** Indexes of the pods that take calls and never answer (until the caller gives up). */
  readonly hanging: Set<number>;
  /** `ipv4:127.0.0.1:P1,127.0.0.1:P2,...` */
  readonly target: string;
  readonly stop: () => Promise<void>;
}

/** n echo pods; a pod whose index is in `failing` answers UNAVAILABLE (its own status, from the server). */
export async function startFlakyPods(n: number, serverOptions: grpc.ServerOptions = {}): Promise<Pods> {
  const failing = new Set<number>();
  const hanging = new Set<number>();
  const pods: Pod[] = [];
  for (let i = 0; i < n; i++) {
    const interceptor: grpc.ServerInterceptor = (_method, call) =>
      new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (metadata, nextMetadata) => {
              if (failing.has(i)) {
                metadata.set("x-echo-status", String(grpc.status.UNAVAILABLE));
                metadata.set("x-echo-message", `pod-${i + 1} failing on purpose`);
              }
              if (hanging.has(i)) metadata.set("x-echo-delay-ms", "600000");
              nextMetadata(metadata);
            },
          }),
      });
    pods.push(await startEchoServer(`pod-${i + 1}`, "127.0.0.1", 0, { ...serverOptions, interceptors: [interceptor] }));
  }
  return {
    pods,
    failing,
    hanging,
    target: `ipv4:${pods.map((p) => `127.0.0.1:${p.port}`).join(",")}`,
    stop: async () => {
      for (const p of pods) await p.stop();
    },
  };
}

/** A client whose channel balances with `lbConfig` (one loadBalancingConfig entry). */
export function policyClient(target: string, lbConfig: object, options: grpc.ChannelOptions = {}): grpc.Client {
  return echoClient(target, { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [lbConfig] }), ...options });
}

export function rpcs(pods: readonly Pod[]): number[] {
  return pods.map((p) => p.stats.rpcs);
}

/** Sequential unary calls. */
export async function callTimes(client: grpc.Client, n: number, metadata?: grpc.Metadata, options?: grpc.CallOptions): Promise<CallResult[]> {
  const out: CallResult[] = [];
  for (let i = 0; i < n; i++) out.push(await callUnary(client, Buffer.from(`call ${i}`), metadata?.clone(), options));
  return out;
}

/**
 * Calls until every pod has served at least once, so every subchannel is READY and
 * round_robin cycles through all of them in a fixed order from then on.
 */
export async function warmUp(client: grpc.Client, pods: readonly Pod[], maxCalls = 200): Promise<void> {
  for (let i = 0; i < maxCalls; i++) {
    if (pods.every((p) => p.stats.rpcs > 0)) return;
    await callUnary(client, Buffer.from("warm-up"));
  }
  throw new Error(`pods not all reached after ${maxCalls} calls: ${rpcs(pods).join(",")}`);
}

/** A unary call the server holds `x-echo-delay-ms`; cancelled by the caller once some pod began it. */
export function cancelledCall(client: grpc.Client, pods: readonly Pod[]): Promise<number> {
  return new Promise((resolve) => {
    const md = new grpc.Metadata();
    md.set("x-echo-delay-ms", "60000");
    const call = client.makeUnaryRequest(
      echoService.unary.path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from("x"),
      md,
      {},
      () => {
        // The status event carries the outcome.
      },
    );
    const onBegin = (): void => {
      for (const p of pods) p.stats.events.off("begin", onBegin);
      call.cancel();
    };
    for (const p of pods) p.stats.events.on("begin", onBegin);
    call.on("status", (s: grpc.StatusObject) => resolve(s.code));
  });
}
