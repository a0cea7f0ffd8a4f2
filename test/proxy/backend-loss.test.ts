// Backends going away under load, behind the proxy. One shutting down gracefully (grpc-js
// tryShutdown: GOAWAY, in-flight RPCs finish, then the port closes): no RPC fails; streams
// racing the GOAWAY are refused and retried, new ones go to the other backend, connects to
// the closed port are retried there. Chaos: three echo pods in processes of their own, one
// killed (SIGKILL) and restarted on its port, another paused (SIGSTOP) until the proxy's
// upstream keepalive gives up on it, then resumed (SIGCONT). What may fail: the RPCs the dead
// or frozen pod held. Nothing else, and nothing once the proxy has noticed. The numbers go to
// the test output.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import type { LbEndpoint } from "../../src/balancer/types.js";
import { AttemptEnd } from "../../src/balancer/outcome.js";
import type { ClusterRuntime } from "../../src/upstream/cluster.js";
import { PoolState } from "../../src/upstream/endpoint-pool.js";
import { killChildPod, startChildPod, type ChildPod } from "../support/child-pod.js";
import { destinationRuleYaml, listenerYaml, md, serviceEntryYaml } from "../support/cluster.js";
import { proxyInFront, proxyWithPods } from "../support/proxy-with-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

const CLIENTS = 4;
const IN_FLIGHT_PER_CLIENT = 6;
/** Each RPC waits this long in the pod, so every pod always holds a few. */
const DELAY_MS = 20;
const DEADLINE_MS = 5000;
/**
 * Upstream keepalive: a frozen pod is given up on within time + timeout. A shorter timeout
 * (250 ms was tried) also gives up on pods that are merely slow for a moment on a busy
 * 2-core machine, and fails the RPCs they hold.
 */
const KEEPALIVE = { time: "250ms", timeout: "1s" };
const UNAVAILABLE: number = grpc.status.UNAVAILABLE;

interface Rpc {
  readonly start: number;
  readonly end: number;
  readonly code: number;
  readonly details: string;
  readonly pod: string | undefined;
}

/** Steady load: every client keeps IN_FLIGHT_PER_CLIENT unary RPCs in flight until stop(). */
class Load {
  readonly rpcs: Rpc[] = [];
  private readonly done = new EventEmitter();
  private running = true;
  private readonly loops: Promise<void>[];

  constructor(private readonly clients: readonly grpc.Client[]) {
    this.loops = clients.flatMap((c) => Array.from({ length: IN_FLIGHT_PER_CLIENT }, () => this.loop(c)));
  }

  private async loop(c: grpc.Client): Promise<void> {
    while (this.running) {
      const start = performance.now();
      const r = await callUnary(c, Buffer.from("chaos"), md({ "x-echo-delay-ms": String(DELAY_MS) }), { deadline: Date.now() + DEADLINE_MS });
      const pod = r.headers?.get("x-pod")[0];
      const rpc: Rpc = { start, end: performance.now(), code: r.code, details: r.details, pod: typeof pod === "string" ? pod : undefined };
      this.rpcs.push(rpc);
      this.done.emit("rpc", rpc);
    }
  }

  /** Resolves once `n` RPCs that satisfy `pred` have completed from now on. */
  until(n: number, pred: (r: Rpc) => boolean): Promise<void> {
    return new Promise((resolve) => {
      let seen = 0;
      const on = (r: Rpc): void => {
        if (!pred(r) || ++seen < n) return;
        this.done.off("rpc", on);
        resolve();
      };
      this.done.on("rpc", on);
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    for (const c of this.clients) c.close();
  }
}

/** Resolves when the endpoint on `port` reaches `state` in the proxy's view. */
function endpointState(cluster: ClusterRuntime, port: number, state: string): Promise<number> {
  const key = `127.0.0.1:${port}`;
  return new Promise((resolve) => {
    const on = (k: string, to: string): void => {
      if (k !== key || to !== state) return;
      cluster.events.off("endpoint-state", on);
      resolve(performance.now());
    };
    cluster.events.on("endpoint-state", on);
  });
}

function inFlight(cluster: ClusterRuntime, pods: readonly ChildPod[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of pods) out[p.name] = cluster.endpointList().find((e: LbEndpoint) => e.port === p.port)?.load.activeRequests ?? -1;
  return out;
}

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("a backend shutting down gracefully mid-load: every RPC succeeds", async (t) => {
      const { client, pods } = await proxyWithPods(t, {
        pods: 2,
        config: (ports) => [
          listenerYaml("", transport),
          serviceEntryYaml("echo", ports),
          destinationRuleYaml("echo", "    loadBalancer: { simple: ROUND_ROBIN }"),
        ],
      });
      let sent = 0;
      const failures: string[] = [];
      const shutDown = new Promise<void>((resolve) => {
        // Once the first pod has served some RPCs, it drains while the load goes on.
        const onBegin = (): void => {
          if (pods[0]!.stats.rpcs < 100) return;
          pods[0]!.stats.events.off("begin", onBegin);
          pods[0]!.server.tryShutdown(() => resolve());
        };
        pods[0]!.stats.events.on("begin", onBegin);
      });
      const loop = async (): Promise<void> => {
        while (sent < 1500) {
          sent++;
          const r = await callUnary(client, Buffer.from(`rpc-${sent}`));
          if (r.code !== 0) failures.push(`${r.code} ${r.details}`);
        }
      };
      await Promise.all(Array.from({ length: 10 }, loop));
      await shutDown;
      assert.deepEqual(failures, []);
      assert.ok(pods[0]!.stats.rpcs >= 100);
      assert.equal(pods[0]!.stats.rpcs + pods[1]!.stats.rpcs, 1500);
    });

    test("a pod killed and restarted, another paused and resumed: only the RPCs they held fail", async (t) => {
      // Every pod process started, restarted ones too: killed once the proxy has stopped.
      const children: ChildPod[] = [];
      defer(t, async () => {
        for (const p of children) await killChildPod(p);
      });
      const pods = await Promise.all(["pod-a", "pod-b", "pod-c"].map((n) => startChildPod(n)));
      children.push(...pods);
      let a = pods[0]!;
      const b = pods[1]!;
      const h = await proxyInFront(t, pods, {
        config: (ports) => [
          listenerYaml(`  upstream:\n    keepalive: { time: ${KEEPALIVE.time}, timeout: ${KEEPALIVE.timeout} }\n`, transport),
          serviceEntryYaml("echo", ports),
        ],
      });
      const cluster = h.cluster();
      // When a pod's connection dies, its streams are reset one after another: at the first
      // reset, every RPC the proxy had on that pod is still counted in its activeRequests.
      const snapshots = new Map<number, Record<string, number>>();
      let armed = new Set<number>();
      // Every stream a dying connection took down, per pod.
      const resets: Array<{ readonly port: number; readonly at: number }> = [];
      cluster.observe({
        attemptEnded: ({ endpoint, end }) => {
          if (end !== AttemptEnd.RESET) return;
          const port = Number(endpoint.key.slice(endpoint.key.lastIndexOf(":") + 1));
          resets.push({ port, at: performance.now() });
          if (!armed.has(port)) return;
          armed.delete(port);
          snapshots.set(port, inFlight(cluster, pods));
        },
      });
      const load = new Load(Array.from({ length: CLIENTS }, () => h.newClient()));
      defer(t, () => load.stop());
      await Promise.all(pods.map((p) => load.until(20, (r) => r.pod === p.name)));

      // --- SIGKILL pod-a, then restart it on its port ---
      armed = new Set([a.port]);
      const aDown = endpointState(cluster, a.port, PoolState.TRANSIENT_FAILURE);
      const tKill = performance.now();
      const dead = once(a.child, "exit");
      a.child.kill("SIGKILL");
      await dead;
      const tADown = await aDown;
      await load.until(100, (r) => r.code === 0);
      const restarted = await startChildPod("pod-a", a.port);
      children.push(restarted);
      a = restarted;
      await load.until(10, (r) => r.pod === "pod-a");
      const tABack = performance.now();

      // --- SIGSTOP pod-b until keepalive gives up on it, then SIGCONT ---
      armed = new Set([b.port]);
      const bDown = endpointState(cluster, b.port, PoolState.TRANSIENT_FAILURE);
      const tPause = performance.now();
      b.child.kill("SIGSTOP");
      const tBDown = await bDown;
      const tCont = performance.now();
      b.child.kill("SIGCONT");
      // Its backoff (~1 s) keeps new RPCs away meanwhile; then it is connected to again.
      await load.until(10, (r) => r.pod === "pod-b");
      const tBBack = performance.now();
      await load.until(300, () => true);
      await load.stop();

      const failed = load.rpcs.filter((r) => r.code !== 0);
      const killFailures = failed.filter((r) => r.start < tADown && r.end >= tKill);
      const pauseFailures = failed.filter((r) => r.start < tCont && r.end >= tPause);
      // Sent to pod-b after keepalive gave up on it: none, it backs off (before the fix in
      // endpoint-pool.ts it went straight back to IDLE and drew most new RPCs).
      const afterFirstVerdict = pauseFailures.filter((r) => r.start >= tBDown).length;
      const resetsOnB = resets.filter((r) => r.port === b.port && r.at >= tPause && r.at <= tBBack).length;
      const other = failed.filter((r) => !killFailures.includes(r) && !pauseFailures.includes(r));
      // In flight per pod when the pod's connection died: on pod-a, the RPCs it held at
      // kill() plus those sent while the kernel was still tearing it down (no one could know).
      const atKill = snapshots.get(a.port) ?? { "pod-a": 0 };
      const atFreeze = snapshots.get(b.port) ?? { "pod-b": 0 };
      const ms = (x: number): string => `${x.toFixed(0)} ms`;
      t.diagnostic(`${load.rpcs.length} RPCs (${CLIENTS * IN_FLIGHT_PER_CLIENT} in flight, ${DELAY_MS} ms each), ${failed.length} failed`);
      t.diagnostic(
        `SIGKILL pod-a: in flight per pod when its connection died ${JSON.stringify(atKill)}; ` +
          `failed ${killFailures.length}; pod-a marked down after ${ms(tADown - tKill)}; the restarted pod-a served again ${ms(tABack - tADown)} later`,
      );
      t.diagnostic(
        `SIGSTOP pod-b: in flight per pod when keepalive gave up on it ${JSON.stringify(atFreeze)}; ` +
          `failed ${pauseFailures.length} (${[...new Set(pauseFailures.map((r) => grpc.status[r.code]))].join(", ")}), ${afterFirstVerdict} of them sent after the verdict; ` +
          `keepalive (${KEEPALIVE.time} + ${KEEPALIVE.timeout}) gave up after ${ms(tBDown - tPause)}; SIGCONT then, pod-b served again ${ms(tBBack - tCont)} later`,
      );
      for (const r of failed.slice(0, 3)) t.diagnostic(`e.g. ${grpc.status[r.code]} ${r.details}`);

      const at = (r: Rpc): string =>
        `started ${ms(r.start - tKill)} after the kill, ended ${ms(r.end - tKill)} (pod-a down ${ms(tADown - tKill)}, back ${ms(tABack - tKill)}; pause ${ms(tPause - tKill)}, pod-b down ${ms(tBDown - tKill)}, back ${ms(tBBack - tKill)}; pods ${pods.map((p) => `${p.name}=${p.port}`).join(" ")})`;
      assert.deepEqual(
        other.map((r) => `${grpc.status[r.code]} ${r.details}; ${at(r)}`),
        [],
        "failures outside the kill and the pause",
      );
      assert.ok(killFailures.length <= atKill["pod-a"]!, `${killFailures.length} failed at the kill, ${atKill["pod-a"]} were in flight on pod-a`);
      for (const r of killFailures) {
        assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
        assert.ok(r.details.endsWith(`from 127.0.0.1:${a.port}`), r.details);
      }
      // What pod-b held when it froze, plus what was sent to it until keepalive gave up: with
      // least-request, a frozen pod's growing count steers most new RPCs away meanwhile.
      assert.ok(pauseFailures.length <= resetsOnB, `${pauseFailures.length} failed at the pause, ${resetsOnB} were on pod-b's connections when they died`);
      assert.ok(pauseFailures.length <= atFreeze["pod-b"]!, `${pauseFailures.length} failed at the pause, ${atFreeze["pod-b"]} were in flight on pod-b`);
      assert.equal(afterFirstVerdict, 0, "RPCs sent to pod-b after keepalive gave up on it failed");
      for (const r of pauseFailures) {
        assert.ok([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(r.code), r.details);
        if (r.code === UNAVAILABLE) assert.ok(r.details.endsWith(`from 127.0.0.1:${b.port}`), r.details);
      }
    });
  });
