// sluice's dns resolver in a real grpc-js channel, against a real DNS server (dnsmasq on a
// loopback port, named in the target's authority) and real echo pods, each on its own
// loopback address (127.0.0.2, .3, .4) and all on the same port, as pods of a headless
// Kubernetes Service are. Records change while calls flow; the channel must follow within
// one refresh period, with no failed call and no reconnection of the pods it keeps.
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import type * as grpc from "@grpc/grpc-js";
import { callUnary, type CallResult } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { DNS_MIN_TIME_OPTION, DNS_REFRESH_INTERVAL_OPTION } from "../../src/client/dns-resolver.js";
import { registerSluiceResolvers } from "../../src/client/resolvers.js";
import { clientFor } from "../support/calls.js";
import type { Pod } from "../support/cluster.js";
import { defer } from "../support/teardown.js";
import { startDnsmasq, type Dnsmasq } from "./support/dnsmasq.js";

const NAME = "echo.test";
const ROUND_ROBIN = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

/** Pods on 127.0.0.2, 127.0.0.3, ... all on one port: DNS gives addresses, the target the port. */
async function startPodsOnLoopbacks(n: number): Promise<{ pods: Pod[]; port: number }> {
  const first = await startEchoServer("pod-1", "127.0.0.2", 0);
  const pods: Pod[] = [first];
  for (let i = 2; i <= n; i++) pods.push(await startEchoServer(`pod-${i}`, `127.0.0.${i + 1}`, first.port));
  return { pods, port: first.port };
}

/** Sequential unary calls until stopped; every outcome is kept. */
function drive(client: grpc.Client): { stop(): Promise<CallResult[]> } {
  const results: CallResult[] = [];
  let running = true;
  const loop = (async () => {
    while (running) results.push(await callUnary(client, Buffer.from("x"), undefined, { deadline: Date.now() + 5000 }));
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return results;
    },
  };
}

/**
 * Resolves once `done()` holds, checked after every RPC any pod begins; rejects after
 * `ms` saying `what` never happened. Returns the elapsed milliseconds.
 */
function until(pods: readonly Pod[], ms: number, what: string, done: () => boolean): Promise<number> {
  const started = performance.now();
  return new Promise<number>((resolve, reject) => {
    const check = (): void => {
      if (!done()) return;
      finish();
      resolve(performance.now() - started);
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`${what}: not within ${ms} ms (rpcs: ${pods.map((p) => `${p.stats.name}=${p.stats.rpcs}`).join(" ")})`));
    }, ms);
    const finish = (): void => {
      clearTimeout(timer);
      for (const p of pods) p.stats.events.off("begin", check);
    };
    for (const p of pods) p.stats.events.on("begin", check);
    check();
  });
}

function records(...hosts: number[]): [string, string][] {
  return hosts.map((h) => [`127.0.0.${h}`, NAME]);
}

const failures = (results: readonly CallResult[]): string[] => results.filter((r) => r.code !== 0).map((r) => `${r.code} ${r.details}`);

describe("dns resolver against dnsmasq", { timeout: 60_000 }, () => {
  let pods: Pod[] = [];
  let port = 0;

  before(async () => {
    registerSluiceResolvers();
    ({ pods, port } = await startPodsOnLoopbacks(3));
  });

  after(async () => {
    // tryShutdown resolves once every connection to the pod has closed.
    for (const p of pods) await p.stop();
  });

  async function scenario(t: TestContext, opts: { ttlSeconds: number; channel: grpc.ChannelOptions; periodMs: number }): Promise<void> {
    const [pod1, pod2, pod3] = pods as [Pod, Pod, Pod];
    const dns: Dnsmasq = await startDnsmasq(records(2, 3), opts.ttlSeconds);
    defer(t, () => dns.stop());
    const client = clientFor(t, `${dns.authority}${NAME}:${port}`, { "grpc.service_config": ROUND_ROBIN, ...opts.channel });
    const base = pods.map((p) => p.stats.rpcs);
    const since = (i: number): number => pods[i]!.stats.rpcs - base[i]!;
    const traffic = drive(client);
    defer(t, () => traffic.stop()); // after a failed assertion: the calls stop before the client closes
    await until(pods, 5000, "both initial pods get calls", () => since(0) > 0 && since(1) > 0);
    assert.equal(since(2), 0, "pod-3 is not in DNS yet");
    const peers1 = [...pod1.stats.peers];
    const peers2 = [...pod2.stats.peers];

    await dns.setRecords(records(2, 3, 4));
    const addedAfter = await until(pods, opts.periodMs + 2000, "pod-3 gets calls after its record appears", () => since(2) > 0);
    assert.ok(addedAfter < opts.periodMs + 1000, `pod-3 got its first call ${Math.round(addedAfter)} ms after the record appeared`);
    // Round robin keeps using all three, over the connections it already had.
    const at = pods.map((p) => p.stats.rpcs);
    await until(pods, 5000, "all three pods get calls", () => pods.every((p, i) => p.stats.rpcs > at[i]!));
    assert.deepEqual([...pod1.stats.peers], peers1, "pod-1 saw a new connection");
    assert.deepEqual([...pod2.stats.peers], peers2, "pod-2 saw a new connection");

    await dns.setRecords(records(3, 4));
    // Removed: pod-1 gets nothing while the others get 30 calls between them.
    let mark = pod1.stats.rpcs;
    let othersAtMark = pod2.stats.rpcs + pod3.stats.rpcs;
    await until(pods, opts.periodMs + 5000, "pod-1 stops getting calls after its record goes", () => {
      if (pod1.stats.rpcs !== mark) {
        mark = pod1.stats.rpcs;
        othersAtMark = pod2.stats.rpcs + pod3.stats.rpcs;
      }
      return pod2.stats.rpcs + pod3.stats.rpcs - othersAtMark >= 30;
    });
    assert.deepEqual([...pod2.stats.peers], peers2, "pod-2 saw a new connection");
    assert.deepEqual(failures(await traffic.stop()), [], "calls failed while DNS changed");
  }

  test("re-resolves every refresh period: a new pod gets calls, a removed one none, nothing fails or reconnects", async (t) => {
    // TTL far above the period: only the period can explain the refresh.
    await scenario(t, {
      ttlSeconds: 3600,
      periodMs: 500,
      channel: { [DNS_REFRESH_INTERVAL_OPTION]: 500, [DNS_MIN_TIME_OPTION]: 100 },
    });
  });

  test("re-resolves when the records' TTL expires, before a longer period", async (t) => {
    await scenario(t, {
      ttlSeconds: 1,
      periodMs: 1000,
      channel: { [DNS_REFRESH_INTERVAL_OPTION]: 600_000, [DNS_MIN_TIME_OPTION]: 100 },
    });
  });
});
