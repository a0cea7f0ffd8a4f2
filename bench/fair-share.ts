// How long a newly added backend takes to reach its fair share, request mode against
// connection mode, side by side in one run. Each variant is one run of
// bench/fair-share-load.ts (its own process): 1 pod in the endpoint set under a steady load
// from grpc-js clients with one channel each, then 2 more pods added at runtime; this file
// turns its per-pod counts into "time until each new pod serves at least 90% of its fair
// share (1/3) over a sliding window" and a Markdown section.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadavg1, runToEnd } from "./procs.js";
import { sluiceConfigText } from "./targets.js";

const here = fileURLToPath(new URL(".", import.meta.url));

/** The load of one run (bench/fair-share-load.ts). */
export const FAIR_SHARE_LOAD = {
  pods: 3,
  clients: 6,
  inFlight: 2,
  /** Each RPC takes the pod this long (x-echo-delay-ms): a steady load well under what one core serves. */
  delayMs: 5,
  /**
   * Not counted: clients start during its first half; JIT and connections warm up (the
   * load process's rate was still climbing 3 s after its start, with 1 pod as with 3).
   */
  warmupMs: 4000,
  beforeMs: 1500,
  afterMs: 8000,
  bucketMs: 10,
} as const;

export interface FairShareRun {
  readonly bucketMs: number;
  /** counts[bucket][pod]: RPCs completed by each pod; bucket 0 starts at the add. */
  readonly counts: number[][];
  /** The same, over the beforeMs before the add (after the warm-up). */
  readonly before: number[][];
  readonly failed: number;
  readonly firstError: string | null;
  /** Downstream connections the proxy accepted (connection mode cycles them). */
  readonly connectionsAccepted: number;
  /** Downstream connections sent GOAWAY at maxRequestsPerConnection (connection mode). */
  readonly connectionsCycled: number;
}

interface Variant {
  readonly mode: "request" | "connection";
  readonly maxRequestsPerConnection: number;
}

/** Both modes with connections cycling every 100 streams, and connection mode with 1000 to show the scaling. */
const VARIANTS: readonly Variant[] = [
  { mode: "request", maxRequestsPerConnection: 100 },
  { mode: "connection", maxRequestsPerConnection: 100 },
  { mode: "connection", maxRequestsPerConnection: 1000 },
];
const WINDOW_MS = 500;
/** "Fair share reached": at least this much of 1/pods over a window. */
const SHARE_OF_FAIR = 0.9;
const STEADY_MS = 3000;

export interface FairShareEnv {
  readonly dir: string;
  readonly proxyCore: number;
  readonly loadCore: number;
  readonly nodeFlags: readonly string[];
}

export interface PodOutcome {
  /** Start of the first window after the add in which the pod served >= 90% of its fair share; undefined = never. */
  readonly reachedMs?: number;
  /** Start of the first window from which every later window met it; undefined = not held to the end. */
  readonly heldFromMs?: number;
  /** Share over the last STEADY_MS of the run. */
  readonly steadyShare: number;
}

export interface FairShareRow {
  readonly variant: Variant;
  readonly loadavg: number;
  readonly error?: string;
  readonly run?: FairShareRun;
  readonly rpsBefore?: number;
  readonly rpsSteady?: number;
  readonly pods?: readonly PodOutcome[];
}

function configYaml(v: Variant): string {
  // The endpoint port (9) is a placeholder: bench/proxy-host.ts feeds the cluster's endpoints.
  return `apiVersion: sluice.dev/v1alpha1
kind: Proxy
metadata: { name: bench }
spec:
  listen: 127.0.0.1:0
  mode: ${v.mode}
  transport: h2
---
${sluiceConfigText(9, v.maxRequestsPerConnection)}`;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** Per-pod totals over buckets [from, to). */
function totals(rows: readonly number[][], from: number, to: number, pods: number): number[] {
  const t = new Array<number>(pods).fill(0);
  for (let b = Math.max(0, from); b < Math.min(to, rows.length); b++) {
    const row = rows[b]!;
    for (let p = 0; p < pods; p++) t[p]! += row[p] ?? 0;
  }
  return t;
}

export function analyze(run: FairShareRun): Pick<FairShareRow, "rpsBefore" | "rpsSteady" | "pods"> {
  const pods = FAIR_SHARE_LOAD.pods;
  const n = Math.floor(FAIR_SHARE_LOAD.afterMs / run.bucketMs); // whole buckets inside the run
  const w = WINDOW_MS / run.bucketMs;
  const threshold = SHARE_OF_FAIR / pods;
  const shares: number[][] = []; // shares[start][pod] of the window starting at bucket `start`
  for (let s = 0; s + w <= n; s++) {
    const t = totals(run.counts, s, s + w, pods);
    const all = sum(t);
    shares.push(t.map((x) => (all > 0 ? x / all : 0)));
  }
  const steadyFrom = n - STEADY_MS / run.bucketMs;
  const steady = totals(run.counts, steadyFrom, n, pods);
  const steadyAll = sum(steady);
  const outcomes: PodOutcome[] = [];
  for (let p = 0; p < pods; p++) {
    const reached = shares.findIndex((s) => (s[p] ?? 0) >= threshold);
    let held: number | undefined;
    for (let s = shares.length - 1; s >= 0 && (shares[s]![p] ?? 0) >= threshold; s--) held = s;
    outcomes.push({
      ...(reached >= 0 ? { reachedMs: reached * run.bucketMs } : {}),
      ...(held !== undefined ? { heldFromMs: held * run.bucketMs } : {}),
      steadyShare: steadyAll > 0 ? (steady[p] ?? 0) / steadyAll : 0,
    });
  }
  const beforeRpcs = sum(run.before.map(sum));
  return {
    rpsBefore: run.before.length > 0 ? beforeRpcs / ((run.before.length * run.bucketMs) / 1000) : undefined,
    rpsSteady: steadyAll / (STEADY_MS / 1000),
    pods: outcomes,
  };
}

async function one(env: FairShareEnv, v: Variant, i: number): Promise<FairShareRow> {
  const loadavg = loadavg1();
  const config = join(env.dir, `fair-share-${i}.yaml`);
  writeFileSync(config, configYaml(v));
  const name = `${v.mode} mode, maxRequestsPerConnection ${v.maxRequestsPerConnection}`;
  try {
    const expectedMs = FAIR_SHARE_LOAD.warmupMs + FAIR_SHARE_LOAD.beforeMs + FAIR_SHARE_LOAD.afterMs;
    const out = await runToEnd(process.execPath, [join(here, "fair-share-load.js"), config, String(env.proxyCore), ...env.nodeFlags], {
      core: env.loadCore,
      timeoutMs: expectedMs + 30_000,
    });
    if (out.code !== 0) throw new Error(`fair-share-load exited with ${out.code}: ${out.stderr.slice(-1000)}`);
    const run = JSON.parse(out.stdout.trim().split("\n").pop() ?? "{}") as FairShareRun;
    const row: FairShareRow = { variant: v, loadavg, run, ...analyze(run) };
    const times = (row.pods ?? []).slice(1).map((p) => (p.reachedMs === undefined ? "never" : `${p.reachedMs} ms`));
    console.error(`  ${name}: new pods at >= 90% of fair share after ${times.join(", ")}; ${run.failed} failed RPCs`);
    return row;
  } catch (err) {
    const message = (err as Error).message.split("\n")[0] ?? String(err);
    console.error(`bench: fair share, ${name} failed: ${message}`);
    return { variant: v, loadavg, error: message };
  }
}

export async function fairSharePass(env: FairShareEnv): Promise<FairShareRow[]> {
  console.error("bench: fair share of a new backend");
  const rows: FairShareRow[] = [];
  for (const [i, v] of VARIANTS.entries()) rows.push(await one(env, v, i));
  return rows;
}

/** When the later of the new pods reached its share; undefined if one never did. */
function slowestNewPodMs(r: FairShareRow): number | undefined {
  const times = (r.pods ?? []).slice(1).map((p) => p.reachedMs);
  if (times.length === 0 || times.some((t) => t === undefined)) return undefined;
  return Math.max(...(times as number[]));
}

const when = (x: number | undefined, never: string): string => (x === undefined ? never : `${x} ms`);

export function fairShareMarkdown(rows: readonly FairShareRow[]): string {
  const L = FAIR_SHARE_LOAD;
  const pct = (x: number): string => `${(100 * x).toFixed(0)}%`;
  const lines: string[] = [
    "### Time for a new backend to reach its fair share (request vs connection mode)",
    "",
    `- method: ${L.pods} grpc-js echo pods (src/demo/echo-service.ts, ${L.delayMs} ms of work per RPC) and ${L.clients} grpc-js clients with ONE channel each, ${L.inFlight} RPCs in flight per channel,` +
      " in one process pinned to core 0 (bench/fair-share-load.ts); sluice (default policy LEAST_REQUEST, which compares pinned connections in connection mode) in a process of its own pinned to core 1 (bench/proxy-host.ts)," +
      " a fresh one per row. Endpoints are added at runtime through an injected EndpointSource fed over the proxy process's stdin (the proxy code is sluice's; only discovery is replaced, as test/proxy/endpoint-updates.test.ts does)." +
      ` Clients start ${(L.warmupMs / 2 / L.clients).toFixed(0)} ms apart during an uncounted ${L.warmupMs / 1000} s warm-up (so connection mode's cycles are not in step).` +
      ` The proxy starts with pod-1 only; ${L.beforeMs / 1000} s after the warm-up its endpoint set becomes all ${L.pods} pods and the run goes on for ${L.afterMs / 1000} s.` +
      ` Each completed RPC is counted by the pod that served it (x-pod response header) in ${L.bucketMs} ms buckets.` +
      ` "Reaches" = start (from the add) of the first ${WINDOW_MS} ms window in which the pod served at least ${pct(SHARE_OF_FAIR)} of its fair share (${pct(SHARE_OF_FAIR / L.pods)} of the RPCs);` +
      ` "holds from" = start of the first window from which every later window of the run met that; steady shares over the last ${STEADY_MS / 1000} s.` +
      " In connection mode maxRequestsPerConnection also ends each client connection (GOAWAY) after that many streams, which is what moves clients onto new pods; in request mode it only cycles upstream connections.",
    "",
    "| mode | maxRequestsPerConnection | RPS before the add | RPS after (steady) | one connection cycle per client | pod-2 reaches | pod-3 reaches | pod-2 holds from | pod-3 holds from | steady shares pod-1 / pod-2 / pod-3 | downstream connections accepted / cycled | failed RPCs | 1-min load before |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|",
  ];
  for (const r of rows) {
    const v = r.variant;
    if (r.run === undefined || r.pods === undefined) {
      lines.push(`| ${v.mode} | ${v.maxRequestsPerConnection} | error: ${r.error ?? "no result"} | | | | | | | | | | |`);
      continue;
    }
    const perClient = (r.rpsSteady ?? 0) / L.clients;
    const cycle = perClient > 0 ? `${((1000 * v.maxRequestsPerConnection) / perClient).toFixed(0)} ms` : "-";
    const [, p2, p3] = r.pods;
    lines.push(
      `| ${v.mode} | ${v.maxRequestsPerConnection} | ${r.rpsBefore?.toFixed(0) ?? "-"} | ${r.rpsSteady?.toFixed(0) ?? "-"} | ${v.mode === "connection" ? cycle : "- (not used)"} | ${when(
        p2?.reachedMs,
        "never",
      )} | ${when(p3?.reachedMs, "never")} | ${when(p2?.heldFromMs, "not held")} | ${when(p3?.heldFromMs, "not held")} | ${r.pods
        .map((p) => pct(p.steadyShare))
        .join(
          " / ",
        )} | ${r.run.connectionsAccepted} / ${r.run.connectionsCycled} | ${r.run.failed}${r.run.firstError !== null ? ` (${r.run.firstError})` : ""} | ${r.loadavg.toFixed(2)} |`,
    );
  }
  const summary = rows.flatMap((r) => {
    const slowest = slowestNewPodMs(r);
    if (slowest === undefined) return [];
    const perClient = (r.rpsSteady ?? 0) / L.clients;
    const cycleMs = perClient > 0 ? (1000 * r.variant.maxRequestsPerConnection) / perClient : undefined;
    const ofCycle = r.variant.mode === "connection" && cycleMs !== undefined ? ` (${(slowest / cycleMs).toFixed(2)} of one connection cycle)` : "";
    return [`${r.variant.mode} mode with ${r.variant.maxRequestsPerConnection}: ${slowest} ms${ofCycle}`];
  });
  if (summary.length > 0) lines.push("", `Both new pods at 90% of their fair share after: ${summary.join("; ")}.`);
  return lines.join("\n");
}
