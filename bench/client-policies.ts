// `npm run bench:client`: how sluice/client's grpc-js policies treat a slow pod. Three echo
// pods on loopback, one answering SLOW_MS later than the others; for each policy a fresh
// grpc-js channel (round_robin is grpc-js's own, the baseline) runs CONCURRENCY loops of
// unary calls for --duration seconds after a warm-up, and we count which pod served each
// call (x-pod header) and time it. Expected: the slow pod's share falls from round_robin
// (1/3) to least_request (it holds more calls in flight) to peak_ewma (it answers late).
// Pods and clients share this one process: the figures are about where calls go and what
// that does to latency, not about CPU cost.
//
//   npm run bench:client -- [--duration 5] [--no-write]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { register } from "../src/client/register.js";
import { callUnary, echoClient } from "../src/demo/echo-client.js";
import { startEchoServer } from "../src/demo/echo-service.js";
import { slowPodOptions } from "../src/demo/slow-pod.js";
import { appendSection, gitCommit, machineInfo, pct, resultsFile } from "./report.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const PODS = 3;
/** Every call asks its pod to take this long (x-echo-delay-ms): a service time, so calls overlap. */
const BASE_MS = 2;
/** The slow pod (pod-1) adds this to every answer. */
const SLOW_MS = 20;
const CONCURRENCY = 12;
const WARMUP_MS = 1000;
const OK: number = grpc.status.OK;

const POLICIES: ReadonlyArray<{ name: string; config: object }> = [
  { name: "round_robin (grpc-js)", config: { round_robin: {} } },
  { name: "least_request", config: { least_request: { choiceCount: 2 } } },
  { name: "peak_ewma", config: { peak_ewma: {} } },
];

interface PolicyResult {
  readonly name: string;
  readonly rpcs: number;
  readonly errors: number;
  readonly slowShare: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rps: number;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function runPolicy(name: string, config: object, durationMs: number): Promise<PolicyResult> {
  const pods = [];
  for (let i = 0; i < PODS; i++) {
    pods.push(await startEchoServer(`pod-${i + 1}`, "127.0.0.1", 0, i === 0 ? slowPodOptions(SLOW_MS) : {}));
  }
  const target = `ipv4:${pods.map((p) => `127.0.0.1:${p.port}`).join(",")}`;
  const client = echoClient(target, { "grpc.service_config": JSON.stringify({ loadBalancingConfig: [config] }) });
  const metadata = new grpc.Metadata();
  metadata.set("x-echo-delay-ms", String(BASE_MS));
  const payload = Buffer.alloc(64, 1);
  const latencies: number[] = [];
  let slow = 0;
  let errors = 0;
  const start = performance.now();
  const measureFrom = start + WARMUP_MS;
  const end = measureFrom + durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const r = await callUnary(client, payload, metadata);
      const t1 = performance.now();
      if (t0 < measureFrom) continue;
      if (r.code !== OK) {
        errors++;
        continue;
      }
      latencies.push(t1 - t0);
      if (r.headers?.get("x-pod")[0] === "pod-1") slow++;
    }
  };
  try {
    await Promise.all(Array.from({ length: CONCURRENCY }, loop));
  } finally {
    client.close();
    for (const p of pods) await p.stop();
  }
  latencies.sort((a, b) => a - b);
  return {
    name,
    rpcs: latencies.length,
    errors,
    slowShare: latencies.length === 0 ? NaN : slow / latencies.length,
    p50Ms: quantile(latencies, 0.5),
    p99Ms: quantile(latencies, 0.99),
    rps: latencies.length / (durationMs / 1000),
  };
}

function section(results: readonly PolicyResult[], durationS: number): string {
  const m = machineInfo();
  const share = (n: string): number => results.find((r) => r.name.startsWith(n))?.slowShare ?? NaN;
  const ordered = share("peak_ewma") < share("least_request") && share("least_request") < share("round_robin");
  const rows = results.map(
    (r) => `| ${r.name} | ${r.rpcs} | ${r.errors} | ${pct(r.slowShare)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.rps.toFixed(0)} |`,
  );
  return [
    `## ${new Date().toISOString().replace(/\.\d+Z$/, "Z")} — sluice/client policies and a slow pod`,
    "",
    `- machine: ${m.nproc} CPUs (nproc), ${m.cpuModel}, Linux ${m.kernel}, load average at start ${m.loadavg}`,
    `- software: node ${m.node}; @grpc/grpc-js ${grpcVersion()}; sluice commit ${gitCommit()}`,
    `- method: bench/client-policies.ts. ${PODS} echo pods on 127.0.0.1 in the benchmark's own process; every call asks for ${BASE_MS} ms of service time (x-echo-delay-ms) and pod-1 adds ${SLOW_MS} ms (src/demo/slow-pod.ts). Per policy: fresh pods and one grpc-js channel (target ipv4:..., the policy in grpc.service_config), ${CONCURRENCY} concurrent loops of unary 64-byte calls for ${durationS} s after ${WARMUP_MS / 1000} s unmeasured. Latency is per call, client side.`,
    "",
    "| policy | RPCs | errors | slow pod share | p50 ms | p99 ms | RPS |",
    "|---|---:|---:|---:|---:|---:|---:|",
    ...rows,
    "",
    `Expected order of the slow pod's share, peak_ewma < least_request < round_robin: ${ordered ? "met" : "NOT met"}.`,
    "",
  ].join("\n");
}

/** The installed @grpc/grpc-js version (its package.json, next to build/src/index.js). */
function grpcVersion(): string {
  const main = createRequire(import.meta.url).resolve("@grpc/grpc-js");
  const pkg: unknown = JSON.parse(readFileSync(join(dirname(main), "../../package.json"), "utf8"));
  const version = typeof pkg === "object" && pkg !== null ? (pkg as { version?: unknown }).version : undefined;
  return typeof version === "string" ? version : "unknown";
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf("--duration");
  const durationS = at >= 0 ? Number(args[at + 1]) : 5;
  if (!(durationS > 0)) throw new Error(`--duration must be > 0 seconds, got ${args[at + 1]}`);
  const write = !args.includes("--no-write");
  register();
  const results: PolicyResult[] = [];
  for (const { name, config } of POLICIES) {
    const r = await runPolicy(name, config, durationS * 1000);
    console.log(`${name}: ${r.rpcs} RPCs, ${r.errors} errors, slow pod ${pct(r.slowShare)}, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms`);
    results.push(r);
  }
  const text = section(results, durationS);
  console.log(`\n${text}`);
  if (write) appendSection(resultsFile(join(here, "../..")), text);
}

await main();
