// Helpers for sluice/client integration tests: scripted echo pods on loopback port 0 (failing,
// slow or hanging as a test says), grpc-js clients whose service config names the policy
// under test, balancing over the pods through grpc-js's own ipv4: resolver, and calls that
// report which pod served them (the x-pod response header).
import * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient, type CallResult } from "../../src/demo/echo-client.js";
import { echoService } from "../../src/demo/echo-service.js";
import type { Pod } from "../support/cluster.js";
import { scriptedPods, type Script, type ScriptedPod } from "../support/scripted-pods.js";
import { defer, type Owner } from "../support/teardown.js";

/** A pod's answer to every call while a test makes it fail: UNAVAILABLE from the server, after response headers. */
export const failing: Script = (call) => call.fail(grpc.status.UNAVAILABLE, "failing on purpose", { afterHeaders: true });

/** `ipv4:127.0.0.1:P1,127.0.0.1:P2,...` */
export function ipv4Target(pods: readonly { readonly port: number }[]): string {
  return `ipv4:${pods.map((p) => `127.0.0.1:${p.port}`).join(",")}`;
}

/** A client whose channel balances with `lbConfig` (one loadBalancingConfig entry), closed when `owner` ends. */
export function policyClient(owner: Owner, target: string, lbConfig: object, options: grpc.ChannelOptions = {}): grpc.Client {
  const client = echoClient(target, { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [lbConfig] }), ...options });
  defer(owner, () => client.close());
  return client;
}

/**
 * Scripted pods pod-1... (`scripts`: a count of echo pods, or each one's script) and a client
 * balancing over all of them with `lbConfig`; the client closes, then the pods stop, when `owner` ends.
 */
export async function balancedPods(
  owner: Owner,
  scripts: number | readonly Script[],
  lbConfig: object,
  options: grpc.ChannelOptions = {},
  serverOptions: grpc.ServerOptions = {},
): Promise<{ pods: ScriptedPod[]; client: grpc.Client }> {
  const pods = await scriptedPods(owner, scripts, serverOptions);
  return { pods, client: policyClient(owner, ipv4Target(pods), lbConfig, options) };
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
