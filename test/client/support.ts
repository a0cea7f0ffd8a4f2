// Helpers for sluice/client integration tests: echo pods on loopback port 0 (some of them
// slow), grpc-js clients balancing over them through grpc-js's own ipv4: resolver, and
// calls that report which pod served them (the x-pod response header).
import * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient, type CallResult } from "../../src/demo/echo-client.js";
import { startEchoServer, echoService } from "../../src/demo/echo-service.js";
import { slowPodOptions } from "../../src/demo/slow-pod.js";
import type { Pod } from "../support/cluster.js";

/** Pods pod-1..pod-n; `delays[i]` ms is added to every answer of pod i+1 (0 or absent: none). */
export async function startPodsWithDelays(n: number, delays: readonly number[] = []): Promise<Pod[]> {
  const pods: Pod[] = [];
  for (let i = 0; i < n; i++) {
    const delay = delays[i] ?? 0;
    pods.push(await startEchoServer(`pod-${i + 1}`, "127.0.0.1", 0, delay > 0 ? slowPodOptions(delay) : {}));
  }
  return pods;
}

/** A client with its own channel over every pod, balanced by `lbConfig` (one loadBalancingConfig entry). */
export function lbClient(pods: readonly Pod[], lbConfig: object): grpc.Client {
  const target = `ipv4:${pods.map((p) => `127.0.0.1:${p.port}`).join(",")}`;
  return echoClient(target, { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [lbConfig] }) });
}

/** The pod that served a successful call, or throws with the status it ended with. */
export function podOf(result: CallResult): string {
  const pod = result.headers?.get("x-pod")[0];
  const ok: number = grpc.status.OK;
  if (result.code !== ok || typeof pod !== "string") {
    throw new Error(`call failed or has no x-pod: ${result.code} ${result.details}`);
  }
  return pod;
}

export async function callPod(client: grpc.Client, headers: Record<string, string> = {}): Promise<string> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
  return podOf(await callUnary(client, Buffer.from("ping"), metadata));
}

/**
 * Makes calls (with `headers`) until every pod has served one, so every endpoint is known
 * READY: a channel is READY as soon as its first endpoint is, and until the others connect
 * a policy sees fewer endpoints. Needs a policy that spreads such calls (random or rotating).
 */
export async function untilAllServed(client: grpc.Client, pods: readonly Pod[], headers: Record<string, string> = {}): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; seen.size < pods.length; i++) {
    if (i === 1000) throw new Error(`1000 calls reached only ${[...seen].join(", ")}`);
    seen.add(await callPod(client, headers));
  }
}

/** How many of `pods` names are `name`. */
export function count(pods: readonly string[], name: string): number {
  return pods.filter((p) => p === name).length;
}

/** A unary call that can be cancelled; `done` resolves with its status code. */
export function startCall(client: grpc.Client): { cancel(): void; done: Promise<number> } {
  let call: grpc.ClientUnaryCall | undefined;
  const done = new Promise<number>((resolve) => {
    const identity = (b: Buffer): Buffer => b;
    call = client.makeUnaryRequest(echoService.unary.path, identity, identity, Buffer.from("hold"), new grpc.Metadata(), {}, () => undefined);
    call.on("status", (s: grpc.StatusObject) => resolve(s.code));
  });
  return { cancel: () => call?.cancel(), done };
}

export async function stopAll(client: grpc.Client, pods: readonly Pod[]): Promise<void> {
  client.close();
  for (const p of pods) await p.stop();
}
