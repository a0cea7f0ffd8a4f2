// The cost of cycling upstream connections: DestinationRule
// trafficPolicy.connectionPool.http.maxRequestsPerConnection N (a connection takes no new
// stream after N and closes once its streams end, so sluice opens a new one) for N = 1, 10,
// 100, 1000 against N = 0 (Istio's "unset": unlimited), side by side in one run. Each N gets
// a fresh sluice process (h2 transport, request mode) in front of the same echo backend:
// saturation throughput and a fixed moderate rate with per-request times, the proxy's and
// the backend's CPU per RPC, and the connections the backend accepted (its stub_status).
// N = 0 runs first and again last; the baseline is the mean of the two, and their
// difference shows how much the shared machine drifted during the pass.
import { join } from "node:path";
import { acceptedBetween, backendCounters } from "./backend-stats.js";
import { h2load, readRequestLog, type H2loadResult, type RequestLatency } from "./h2load.js";
import { busySeconds, cpuPressureUs, cpuSeconds, loadavg1, stop } from "./procs.js";
import { ms, pct, ratio, us } from "./report.js";
import { startSluice, type Target } from "./targets.js";

/** The order of the pass: the baseline first and last, the cycling values between. */
export const MRPC_VALUES: readonly number[] = [0, 1, 10, 100, 1000, 0];
const SAT_CLIENTS = 8;
const SAT_STREAMS = 16;
const SAT_SECONDS = 3;
const WARMUP_REQUESTS = 5000;
/**
 * Moderate: well under what N = 1 sustains at saturation on this machine, so every N is
 * measured at the same offered load. 100 RPS per connection, as in the main fixed-rate pass
 * (h2load's rate timer sends what is due every 10 ms; more per connection arrives in bursts).
 */
const FIXED_RPS = 1000;
const FIXED_CLIENTS = 10;
const FIXED_WARMUP_SECONDS = 1;
const FIXED_SECONDS = 4;

export interface MrpcEnv {
  readonly dir: string;
  readonly bodyFile: string;
  readonly backend: Target;
  readonly path: string;
  readonly proxyCore: number;
  readonly loadCore: number;
  readonly nodeFlags: readonly string[];
}

interface Part {
  readonly h2: H2loadResult;
  readonly proxyCpuS: number;
  readonly backendCpuS: number;
  /** Connections the backend accepted during the part: sluice's upstream connections. */
  readonly upstreamConns: number;
}

export interface MrpcRow {
  readonly n: number;
  readonly loadavg: number;
  readonly error?: string;
  readonly max?: Part;
  readonly fixed?: Part & {
    readonly requests: RequestLatency;
    /** Share of the part in which some task waited for a CPU (PSI "some"). */
    readonly cpuPressure?: number;
    /** Share of the proxy's core that other processes used meanwhile. */
    readonly othersOnProxyCore: number;
  };
}

export interface MrpcResult {
  readonly rows: readonly MrpcRow[];
  readonly frameBytes: number;
}

async function measured(env: MrpcEnv, proxyPid: number, run: () => Promise<H2loadResult>): Promise<Part> {
  const c0 = await backendCounters(env.backend.port);
  const p0 = cpuSeconds(proxyPid);
  const b0 = cpuSeconds(env.backend.proc.pid);
  const h2 = await run();
  const proxyCpuS = cpuSeconds(proxyPid) - p0;
  const backendCpuS = cpuSeconds(env.backend.proc.pid) - b0;
  const c1 = await backendCounters(env.backend.port);
  return { h2, proxyCpuS, backendCpuS, upstreamConns: acceptedBetween(c0, c1) };
}

async function one(env: MrpcEnv, n: number, index: number): Promise<MrpcRow> {
  const loadavg = loadavg1();
  let target: Target | undefined;
  try {
    target = await startSluice(env.dir, env.backend.port, env.proxyCore, { nodeFlags: env.nodeFlags, maxRequestsPerConnection: n });
    const pid = target.proc.pid;
    const url = `http://127.0.0.1:${target.port}${env.path}`;
    const sat = { url, bodyFile: env.bodyFile, clients: SAT_CLIENTS, streams: SAT_STREAMS, core: env.loadCore };
    await h2load({ ...sat, requests: WARMUP_REQUESTS });
    const max = await measured(env, pid, () => h2load({ ...sat, durationS: SAT_SECONDS }));
    const rate = { ...sat, clients: FIXED_CLIENTS, rpsPerClient: FIXED_RPS / FIXED_CLIENTS, connectRate: { perPeriod: 5, periodMs: 1 } };
    await h2load({ ...rate, requests: FIXED_RPS * FIXED_WARMUP_SECONDS });
    const logFile = join(env.dir, `mrpc-${n}-${index}.log`);
    const psi0 = cpuPressureUs();
    const core0 = busySeconds(env.proxyCore);
    const part = await measured(env, pid, () => h2load({ ...rate, requests: FIXED_RPS * FIXED_SECONDS, logFile }));
    const psi1 = cpuPressureUs();
    const seconds = part.h2.seconds;
    const fixed = {
      ...part,
      requests: readRequestLog(logFile),
      cpuPressure: psi0 === undefined || psi1 === undefined ? undefined : (psi1 - psi0) / 1e6 / seconds,
      othersOnProxyCore: Math.max(0, (busySeconds(env.proxyCore) - core0 - part.proxyCpuS) / seconds),
    };
    console.error(
      `  maxRequestsPerConnection ${n}: ${max.h2.rps.toFixed(0)} RPS at saturation (${max.upstreamConns} upstream connections), ` +
        `fixed ${fixed.h2.rps.toFixed(0)} RPS p99 ${ms(fixed.requests.p99Us)} ms, ${us(fixed.proxyCpuS, fixed.h2.done)} µs/RPC`,
    );
    return { n, loadavg, max, fixed };
  } catch (err) {
    const message = (err as Error).message.split("\n")[0] ?? String(err);
    console.error(`bench: maxRequestsPerConnection ${n} failed: ${message}`);
    return { n, loadavg, error: message };
  } finally {
    if (target !== undefined) await stop(target.proc);
  }
}

export async function maxRequestsPass(env: MrpcEnv, frameBytes: number): Promise<MrpcResult> {
  console.error("bench: maxRequestsPerConnection");
  const rows: MrpcRow[] = [];
  for (const [i, n] of MRPC_VALUES.entries()) rows.push(await one(env, n, i));
  return { rows, frameBytes };
}

const mean = (xs: readonly (number | undefined)[]): number | undefined => {
  const ok = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return ok.length === 0 ? undefined : ok.reduce((a, b) => a + b, 0) / ok.length;
};
const perRpcUs = (p: Part | undefined, cpu: "proxy" | "backend"): number | undefined =>
  p === undefined || p.h2.done <= 0 ? undefined : ((cpu === "proxy" ? p.proxyCpuS : p.backendCpuS) * 1e6) / p.h2.done;
/** Responses without the echoed frame: gRPC errors, which h2load counts as HTTP 200 successes. */
const notEchoed = (h2: H2loadResult, frameBytes: number): number => Math.max(0, h2.done - Math.floor(h2.dataBytes / frameBytes));
const f1 = (x: number | undefined): string => (x === undefined ? "-" : x.toFixed(1));

export function maxRequestsMarkdown(r: MrpcResult): string {
  const base = r.rows.filter((row) => row.n === 0);
  const baseRps = mean(base.map((b) => b.max?.h2.rps));
  const baseCpu = mean(base.map((b) => perRpcUs(b.max, "proxy")));
  const baseFixedCpu = mean(base.map((b) => perRpcUs(b.fixed, "proxy")));
  const baseP99 = mean(base.map((b) => b.fixed?.requests.p99Us));
  const label = (row: MrpcRow, i: number): string =>
    row.n === 0 ? (r.rows.findIndex((x) => x.n === 0) === i ? "0 (unlimited, first)" : "0 (unlimited, again last)") : String(row.n);
  const lines: string[] = [
    "### Cost of maxRequestsPerConnection (upstream connection cycling)",
    "",
    `- method: a fresh sluice process per value (h2 transport, request mode, pinned to core 1) with a DestinationRule setting trafficPolicy.connectionPool.http.maxRequestsPerConnection, in the order ${MRPC_VALUES.join(", ")};` +
      ` each gets ${WARMUP_REQUESTS} warm-up requests, then h2load -c ${SAT_CLIENTS} -m ${SAT_STREAMS} for ${SAT_SECONDS} s (saturation),` +
      ` then ${FIXED_RPS} RPS from ${FIXED_CLIENTS} connections x --rps ${FIXED_RPS / FIXED_CLIENTS} for ${FIXED_SECONDS} s after an unmeasured ${FIXED_WARMUP_SECONDS} s (per-request times from h2load --log-file).` +
      ` The ${r.frameBytes}-byte unary echo of the other passes, to the backend named above. Not echoed = responses without the echoed frame (gRPC errors: h2load counts them as HTTP 200). Upstream connections = connections the backend accepted during the part (its stub_status counter), its own status queries excluded.` +
      ' "vs 0" compares with the mean of the two unlimited runs; the gap between those two is the drift of the shared machine during the pass.',
    "",
    `#### Saturation (h2load -c ${SAT_CLIENTS} -m ${SAT_STREAMS}, ${SAT_SECONDS} s)`,
    "",
    "| maxRequestsPerConnection | RPS | vs 0 | failed / errored / not echoed | proxy CPU µs/RPC | vs 0 | backend CPU µs/RPC | upstream connections opened | RPCs per upstream connection | 1-min load before |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [i, row] of r.rows.entries()) {
    const m = row.max;
    if (m === undefined) {
      lines.push(`| ${label(row, i)} | error: ${row.error ?? "no result"} | | | | | | | | |`);
      continue;
    }
    lines.push(
      `| ${label(row, i)} | ${m.h2.rps.toFixed(0)} | ${ratio(m.h2.rps, baseRps)} | ${m.h2.failed} / ${m.h2.errored} / ${notEchoed(m.h2, r.frameBytes)} | ${f1(perRpcUs(m, "proxy"))} | ${ratio(
        perRpcUs(m, "proxy"),
        baseCpu,
      )} | ${f1(perRpcUs(m, "backend"))} | ${m.upstreamConns} | ${m.upstreamConns > 0 ? (m.h2.done / m.upstreamConns).toFixed(1) : "-"} | ${row.loadavg.toFixed(2)} |`,
    );
  }
  lines.push(
    "",
    `#### Fixed rate (${FIXED_RPS} RPS, ${FIXED_SECONDS} s)`,
    "",
    "| maxRequestsPerConnection | achieved RPS | failed / errored / not echoed | p50 ms | p99 ms | vs 0 | max ms | proxy CPU µs/RPC | vs 0 | backend CPU µs/RPC | upstream connections opened | CPU pressure | other processes on core 1 |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  for (const [i, row] of r.rows.entries()) {
    const f = row.fixed;
    if (f === undefined) {
      lines.push(`| ${label(row, i)} | error: ${row.error ?? "no result"} | | | | | | | | | | | |`);
      continue;
    }
    const q = f.requests;
    lines.push(
      `| ${label(row, i)} | ${f.h2.rps.toFixed(0)} | ${f.h2.failed} / ${f.h2.errored} / ${notEchoed(f.h2, r.frameBytes)} | ${ms(q.p50Us)} | ${ms(q.p99Us)} | ${ratio(q.p99Us, baseP99)} | ${ms(
        q.maxUs,
      )} | ${f1(perRpcUs(f, "proxy"))} | ${ratio(perRpcUs(f, "proxy"), baseFixedCpu)} | ${f1(perRpcUs(f, "backend"))} | ${f.upstreamConns} | ${pct(f.cpuPressure)} | ${pct(
        f.othersOnProxyCore,
      )} |`,
    );
  }
  return lines.join("\n");
}
