// One run of the fair-share pass, as its own process (pinned beside the backend, like the
// latency client): PODS grpc-js echo pods (src/demo/echo-service.ts), sluice in a process of
// its own (bench/proxy-host.ts, pinned to the proxy core) with only pod-1 as endpoint, and
// CLIENTS grpc-js clients with ONE channel each (src/demo/echo-client.ts, as the demo and
// the tests), each keeping FAIR_SHARE_LOAD.inFlight RPCs going, started one after another
// during a warm-up. After the warm-up and beforeMs, the proxy's endpoint set becomes all
// pods; the run goes on for afterMs. Every completed RPC is counted by the pod that served
// it (its x-pod response header) in bucketMs buckets from the add.
// Prints one JSON line (FairShareRun).
// Usage: node dist/bench/fair-share-load.js CONFIG.yaml PROXY_CORE [NODE_FLAGS...]
import * as grpc from "@grpc/grpc-js";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { callUnary, echoClient } from "../src/demo/echo-client.js";
import { startEchoServer } from "../src/demo/echo-service.js";
import { FAIR_SHARE_LOAD, type FairShareRun } from "./fair-share.js";
import { killChildrenOnExit, start, stop, waitFor } from "./procs.js";

const here = fileURLToPath(new URL(".", import.meta.url));

async function main(): Promise<void> {
  const [config, coreArg] = process.argv.slice(2);
  if (config === undefined || coreArg === undefined) throw new Error("usage: fair-share-load.js CONFIG.yaml PROXY_CORE [NODE_FLAGS...]");
  const nodeFlags = process.argv.slice(4);
  killChildrenOnExit();
  const L = FAIR_SHARE_LOAD;
  const pods = await Promise.all(Array.from({ length: L.pods }, (_, i) => startEchoServer(`pod-${i + 1}`)));
  const podIndex = new Map(pods.map((p, i) => [p.stats.name, i]));
  const proxy = start(process.execPath, [...nodeFlags, join(here, "proxy-host.js"), config, String(pods[0]!.port)], {
    core: Number(coreArg),
    stdin: true,
  });
  const m = await waitFor(proxy, /sluice proxy listening on 127\.0\.0\.1:(\d+)/);
  const target = `127.0.0.1:${m[1]}`;
  const clients = Array.from({ length: L.clients }, () => echoClient(target));
  const t0 = performance.now();
  /** Start of the measured time before the add: after the warm-up. */
  const beforeFrom = t0 + L.warmupMs;
  let addAt = Infinity;
  const before: number[][] = [];
  const counts: number[][] = [];
  let failed = 0;
  let firstError: string | null = null;
  const payload = Buffer.from("fair share");
  const end = beforeFrom + L.beforeMs + L.afterMs;
  const loop = async (client: grpc.Client, startAfterMs: number): Promise<void> => {
    await new Promise((r) => setTimeout(r, startAfterMs));
    const work = new grpc.Metadata();
    work.set("x-echo-delay-ms", String(L.delayMs));
    while (performance.now() < end) {
      const r = await callUnary(client, payload, work, { deadline: Date.now() + 10_000 });
      const now = performance.now();
      const pod = podIndex.get(String(r.headers?.get("x-pod")[0]));
      if (r.code !== 0 || pod === undefined) {
        failed++;
        firstError ??= `status ${r.code}: ${r.details}`;
        continue;
      }
      if (now < beforeFrom) continue; // warm-up
      const rows = now < addAt ? before : counts;
      const b = Math.floor((now < addAt ? now - beforeFrom : now - addAt) / L.bucketMs);
      for (let i = rows.length; i <= b; i++) rows.push(new Array<number>(L.pods).fill(0));
      rows[b]![pod]!++;
    }
  };
  // Clients start one after another, so that connection mode's cycles are not all in step.
  const stagger = L.warmupMs / 2 / L.clients;
  const loops = clients.flatMap((c, i) => Array.from({ length: L.inFlight }, () => loop(c, i * stagger)));
  await new Promise((r) => setTimeout(r, beforeFrom + L.beforeMs - performance.now()));
  const added = waitFor(proxy, /endpoints (\d+)/);
  proxy.child.stdin!.write(`endpoints ${pods.map((p) => p.port).join(",")}\n`);
  await added;
  addAt = performance.now();
  await Promise.all(loops);
  const stats = waitFor(proxy, /stats (\{.*\})/);
  proxy.child.stdin!.write("stats\n");
  const { connectionsAccepted, connectionsCycled } = JSON.parse((await stats)[1]!) as { connectionsAccepted: number; connectionsCycled: number };
  for (const c of clients) c.close();
  await stop(proxy);
  await Promise.all(pods.map((p) => p.stop()));
  // Only whole buckets before the add: the last one may be cut short by it.
  const run: FairShareRun = { bucketMs: L.bucketMs, counts, before: before.slice(0, -1), failed, firstError, connectionsAccepted, connectionsCycled };
  console.log(JSON.stringify(run));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
