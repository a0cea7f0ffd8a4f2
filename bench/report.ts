// Turns one benchmark run into a dated Markdown section for docs/BENCHMARKS.md (appended,
// earlier runs kept), and prints the same to stdout.
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import type { H2loadResult } from "./h2load.js";
import type { LatencyResult } from "./latency.js";

export interface ScenarioResult {
  readonly name: string;
  readonly skipped?: string;
  readonly error?: string;
  readonly max?: {
    readonly h2: H2loadResult;
    /** Proxy CPU seconds during the run; undefined for direct. */
    readonly proxyCpuS?: number;
    readonly backendCpuS: number;
    /** Busy jiffies of the whole machine during the run (/proc/stat), in seconds. */
    readonly systemCpuS: number;
  };
  readonly fixed?: {
    readonly targetRps: number;
    readonly h2: H2loadResult;
    readonly proxyCpuS?: number;
  };
  readonly latency?: LatencyResult;
  readonly peakRssBytes?: number;
}

export interface RunInfo {
  readonly date: Date;
  readonly machine: { nproc: number; cpuModel: string; kernel: string; node: string; loadavg: string };
  readonly tools: Record<string, string>;
  readonly commit: string;
  readonly backend: string;
  readonly durationS: number;
  readonly clients: number;
  readonly streams: number;
  readonly payloadBytes: number;
  readonly pinned: boolean;
  readonly sluiceNodeFlags: readonly string[];
  readonly latencyConcurrency: number;
  readonly latencyCount: number;
  readonly notes: readonly string[];
}

export function machineInfo(): RunInfo["machine"] {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  return {
    nproc: cpus().length,
    cpuModel: model.trim(),
    kernel: readFileSync("/proc/sys/kernel/osrelease", "utf8").trim(),
    node: process.version,
    loadavg: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
  };
}

export function gitCommit(): string {
  const head = spawnSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" });
  if (head.status !== 0) return "unknown";
  const dirty = spawnSync("git", ["status", "--porcelain", "--", "src"], { encoding: "utf8" });
  return head.stdout.trim() + (dirty.stdout.trim().length > 0 ? " (src/ has uncommitted changes)" : "");
}

const us = (seconds: number | undefined, rpcs: number): string =>
  seconds === undefined || rpcs <= 0 ? "-" : ((seconds * 1e6) / rpcs).toFixed(1);
const ms = (micro: number | undefined): string => (micro === undefined || Number.isNaN(micro) ? "-" : (micro / 1000).toFixed(2));
const mb = (bytes: number | undefined): string => (bytes === undefined || Number.isNaN(bytes) ? "-" : (bytes / 1048576).toFixed(1));
const ratio = (a: number | undefined, b: number | undefined): string =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? "-" : `${(a / b).toFixed(2)}x`;

export function cpuPerRpcUs(r: ScenarioResult, which: "max" | "fixed"): number | undefined {
  const part = which === "max" ? r.max : r.fixed;
  if (part?.proxyCpuS === undefined || part.h2.done <= 0) return undefined;
  return (part.proxyCpuS * 1e6) / part.h2.done;
}

/** Every response carried the echoed frame (h2load counts an error status as success). */
function echoedAll(h2: H2loadResult, frameBytes: number): string {
  if (h2.done === 0) return "no";
  return h2.dataBytes >= h2.done * frameBytes ? "yes" : `no (${(h2.dataBytes / frameBytes).toFixed(0)} of ${h2.done})`;
}

export function markdown(info: RunInfo, results: readonly ScenarioResult[], profile?: string): string {
  const frame = info.payloadBytes + 5;
  const lines: string[] = [];
  const t = info.tools;
  lines.push(`## ${info.date.toISOString().replace(/\.\d+Z$/, "Z")}`, "");
  lines.push(
    `- machine: ${info.machine.nproc} CPUs (nproc), ${info.machine.cpuModel}, Linux ${info.machine.kernel}, load average at start ${info.machine.loadavg}`,
    `- software: node ${info.machine.node}; ${t["h2load"] ?? "h2load missing"}; ${t["nginx"] ?? "nginx missing"}; ${t["haproxy"] ?? "HAProxy missing"}`,
    `- sluice commit ${info.commit}${info.sluiceNodeFlags.length > 0 ? `, proxy run with node ${info.sluiceNodeFlags.join(" ")}` : ""}; backend: ${info.backend}`,
    `- method: h2load -c ${info.clients} -m ${info.streams} POSTs one ${frame}-byte gRPC frame (${info.payloadBytes}-byte message) to /sluice.demo.Echo/Unary for ${info.durationS} s per scenario after a warm-up;` +
      ` then ${info.clients} x --rps for a fixed ~5,000 RPS; then one grpc-js channel (src/demo/echo-client.ts) runs ${info.latencyConcurrency} concurrent loops of ${info.latencyCount} unary RPCs, checking every status and echoed byte.` +
      (info.pinned
        ? " Each proxy is pinned to core 1 (taskset -c 1); h2load, the latency client and the backend to core 0."
        : " taskset missing: nothing pinned."),
    `- CPU µs/RPC = (utime + stime delta of the proxy process, /proc/PID/stat) / completed RPCs; system = busy time of all CPUs (/proc/stat) / RPCs; RSS = VmHWM of the proxy at the end. Each proxy is a fresh process; all scenarios ran in this one run.`,
    "",
  );
  lines.push(
    `### Throughput (h2load -c ${info.clients} -m ${info.streams}, ${info.durationS} s)`,
    "",
    "| scenario | RPS | failed / errored / timeout | every response echoed | proxy CPU µs/RPC | proxy core busy | backend CPU µs/RPC | system CPU µs/RPC | proxy peak RSS MB |",
    "|---|---:|---:|---|---:|---:|---:|---:|---:|",
  );
  for (const r of results) {
    if (r.max === undefined) {
      lines.push(`| ${r.name} | ${r.skipped !== undefined ? `skipped: ${r.skipped}` : `error: ${r.error ?? "no result"}`} | | | | | | | |`);
      continue;
    }
    const h = r.max.h2;
    const busy = r.max.proxyCpuS === undefined ? "-" : `${((100 * r.max.proxyCpuS) / h.seconds).toFixed(0)}%`;
    lines.push(
      `| ${r.name} | ${h.rps.toFixed(0)} | ${h.failed} / ${h.errored} / ${h.timeout} | ${echoedAll(h, frame)} | ${us(r.max.proxyCpuS, h.done)} | ${busy} | ${us(r.max.backendCpuS, h.done)} | ${us(r.max.systemCpuS, h.done)} | ${mb(r.peakRssBytes)} |`,
    );
  }
  lines.push("");
  if (results.some((r) => r.fixed !== undefined)) {
    lines.push(
      "### Fixed rate (h2load --rps)",
      "",
      "| scenario | target RPS | achieved RPS | failed / errored | h2load mean request ms | proxy CPU µs/RPC |",
      "|---|---:|---:|---:|---:|---:|",
    );
    for (const r of results) {
      if (r.fixed === undefined) continue;
      const h = r.fixed.h2;
      lines.push(
        `| ${r.name} | ${r.fixed.targetRps} | ${h.rps.toFixed(0)} | ${h.failed} / ${h.errored} | ${h.meanRequestMs.toFixed(2)} | ${us(r.fixed.proxyCpuS, h.done)} |`,
      );
    }
    lines.push("");
  }
  lines.push(
    `### Latency (grpc-js, ${info.latencyConcurrency} concurrent loops, one channel)`,
    "",
    "| scenario | RPCs | errors | p50 ms | p99 ms | max ms | RPS |",
    "|---|---:|---:|---:|---:|---:|---:|",
  );
  for (const r of results) {
    const l = r.latency;
    if (l === undefined) {
      lines.push(`| ${r.name} | ${r.skipped ?? r.error ?? "-"} | | | | | |`);
      continue;
    }
    lines.push(
      `| ${r.name} | ${l.count} | ${l.errors}${l.firstError !== null ? ` (${l.firstError})` : ""} | ${ms(l.p50Us)} | ${ms(l.p99Us)} | ${ms(l.maxUs)} | ${(l.count / l.seconds).toFixed(0)} |`,
    );
  }
  lines.push("");
  const by = (name: string): ScenarioResult | undefined => results.find((r) => r.name === name);
  const sluice = by("sluice");
  if (sluice?.max !== undefined) {
    lines.push("### Ratios", "", "| ratio | CPU/RPC at max load | CPU/RPC at fixed rate | RPS | p99 |", "|---|---:|---:|---:|---:|");
    for (const other of ["direct", "nginx", "haproxy"]) {
      const o = by(other);
      if (o?.max === undefined) continue;
      lines.push(
        `| sluice / ${other} | ${other === "direct" ? "- (no proxy)" : ratio(cpuPerRpcUs(sluice, "max"), cpuPerRpcUs(o, "max"))} | ${
          other === "direct" ? "-" : ratio(cpuPerRpcUs(sluice, "fixed"), cpuPerRpcUs(o, "fixed"))
        } | ${ratio(sluice.max.h2.rps, o.max.h2.rps)} | ${ratio(sluice.latency?.p99Us, o.latency?.p99Us)} |`,
      );
    }
    lines.push("");
    const nginx = by("nginx");
    const cpuRatio = nginx === undefined ? undefined : (cpuPerRpcUs(sluice, "max") ?? NaN) / (cpuPerRpcUs(nginx, "max") ?? NaN);
    lines.push(
      `Targets: sluice CPU per RPC at most 2.5x nginx's: ${
        cpuRatio === undefined || Number.isNaN(cpuRatio) ? "not measured (nginx missing)" : `${cpuRatio.toFixed(2)}x, ${cpuRatio <= 2.5 ? "met" : "NOT met"}`
      }; peak RSS < 100 MB at ${info.clients} x ${info.streams}: ${mb(sluice.peakRssBytes)} MB, ${
        (sluice.peakRssBytes ?? Infinity) < 100 * 1048576 ? "met" : "NOT met"
      }.`,
      "",
    );
  }
  if (info.notes.length > 0) {
    lines.push("Notes:", "", ...info.notes.map((n) => `- ${n}`), "");
  }
  if (profile !== undefined) lines.push("### sluice CPU profile (node --cpu-prof, separate run)", "", profile, "");
  return lines.join("\n");
}

const HEADER = `# sluice benchmarks

Written by \`npm run bench\` (bench/run.ts); every run appends a dated section below, with the
machine, the tool versions and the baselines (no proxy, nginx, HAProxy) measured in the same
run. Only compare figures within one section: the machine and the code change between runs.

`;

export function appendSection(file: string, section: string): void {
  if (!existsSync(file)) writeFileSync(file, HEADER);
  appendFileSync(file, `${section}\n`);
}
