// Turns one benchmark run into a dated Markdown section for bench/results/DATE.md (appended,
// earlier runs kept), and prints the same to stdout.
import { spawnSync } from "node:child_process";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { basename, dirname, join } from "node:path";
import type { H2loadResult, RequestLatency } from "./h2load.js";
import type { LatencyResult } from "./latency.js";
import type { HandshakeResult } from "./tls.js";

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
    /** From h2load's per-request log. */
    readonly requests: RequestLatency;
    /** Share of the pass in which some task waited for a CPU (PSI "some"); undefined without PSI. */
    readonly cpuPressure?: number;
    /** Share of the proxy's core (core 1) that other processes used during the pass. */
    readonly othersOnProxyCore: number;
  };
  readonly latency?: LatencyResult;
  readonly peakRssBytes?: number;
  readonly idle?: IdleMemory;
  readonly idleError?: string;
  /** TLS scenarios: the short-connection pass (bench/tls.ts). */
  readonly handshakes?: HandshakeResult;
}

/** RSS of a fresh proxy process before and after it accepted `connections` idle HTTP/2 clients. */
export interface IdleMemory {
  readonly connections: number;
  /** Opened (and kept) before "before", so one-time costs do not count per connection. */
  readonly warmConnections: number;
  readonly handshakeSeconds: number;
  readonly rssBeforeBytes: number;
  readonly rssAfterBytes: number;
  /** Open fds of the proxy: the growth shows it held every connection when RSS was read. */
  readonly fdsBefore: number;
  readonly fdsAfter: number;
  /**
   * Node proxies only: VmRSS and used JS heap after a full GC forced through the inspector
   * (a GC also ran just before "before"), i.e. without the handshakes' uncollected garbage.
   */
  readonly afterGc?: { readonly rssBytes: number; readonly heapBeforeBytes: number; readonly heapAfterBytes: number };
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
  readonly fixedRps: number;
  readonly fixedClients: number;
  readonly fixedConnectPerMs: number;
  readonly fixedWarmupSeconds: number;
  readonly latencyConcurrency: number;
  readonly latencyCount: number;
  readonly idleConns: number;
  readonly notes: readonly string[];
  /** The options the run was given (`npm run bench -- ...`), so it can be repeated. */
  readonly args?: readonly string[];
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

// Cell formatters, shared with the other passes' sections (bench/max-requests.ts, bench/fair-share.ts).
export const us = (seconds: number | undefined, rpcs: number): string => (seconds === undefined || rpcs <= 0 ? "-" : ((seconds * 1e6) / rpcs).toFixed(1));
export const ms = (micro: number | undefined): string => (micro === undefined || Number.isNaN(micro) ? "-" : (micro / 1000).toFixed(2));
const mb = (bytes: number | undefined): string => (bytes === undefined || Number.isNaN(bytes) ? "-" : (bytes / 1048576).toFixed(1));
export const pct = (share: number | undefined): string => (share === undefined ? "-" : `${(100 * share).toFixed(0)}%`);
export const ratio = (a: number | undefined, b: number | undefined): string =>
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

/** The issue's bounds for sluice. */
const TARGET_ADDED_P99_US = 1000;
const TARGET_IDLE_BYTES = 10_000;
const TARGET_CPU_VS_NGINX = 2.5;
const TARGET_PEAK_RSS_BYTES = 100 * 1048576;
/** Below this share of the fixed rate, the proxy did not keep up and its p99 is not "at 5,000 RPS". */
const FIXED_RATE_KEPT_UP = 0.97;

/** Proxy p99 minus direct p99 at the fixed rate, both from this run. */
export function addedP99Us(r: ScenarioResult, direct: ScenarioResult | undefined): number | undefined {
  const a = r.fixed?.requests.p99Us;
  const b = direct?.fixed?.requests.p99Us;
  return a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) ? undefined : a - b;
}

export function idleBytesPerConn(r: ScenarioResult): number | undefined {
  const i = r.idle;
  return i === undefined || i.connections <= 0 ? undefined : (i.rssAfterBytes - i.rssBeforeBytes) / i.connections;
}

const verdict = (ok: boolean): string => (ok ? "met" : "NOT met");

/** One line per target of the issue, each "met" / "NOT met" with the figures behind it. */
function targetLines(r: ScenarioResult, by: (name: string) => ScenarioResult | undefined, info: RunInfo): string[] {
  const out: string[] = [];
  const haproxy = by("haproxy");
  const nginx = by("nginx");
  for (const which of ["max", "fixed"] as const) {
    const what = which === "max" ? "at saturation" : `at ${info.fixedRps} RPS`;
    const mine = cpuPerRpcUs(r, which);
    const theirs = haproxy === undefined ? undefined : cpuPerRpcUs(haproxy, which);
    out.push(
      `CPU per proxied unary RPC ${what} at most HAProxy's: ${
        mine === undefined || theirs === undefined
          ? "not measured"
          : `${mine.toFixed(1)} vs ${theirs.toFixed(1)} µs (${ratio(mine, theirs)}), ${verdict(mine <= theirs)}`
      }`,
    );
  }
  const added = addedP99Us(r, by("direct"));
  if (added === undefined || r.fixed === undefined) out.push(`p99 added latency at ${info.fixedRps} RPS under 1 ms: not measured`);
  else {
    const f = r.fixed;
    const keptUp = f.h2.rps >= FIXED_RATE_KEPT_UP * f.targetRps;
    out.push(
      `p99 added latency at ${f.targetRps} RPS under 1 ms: ${ms(f.requests.p99Us)} - ${ms(by("direct")?.fixed?.requests.p99Us)} ms (direct) = ${ms(added)} ms${
        keptUp ? "" : ` with only ${f.h2.rps.toFixed(0)} RPS achieved`
      }, ${verdict(keptUp && added < TARGET_ADDED_P99_US)}${
        f.othersOnProxyCore > 0.05 ? ` (other processes used ${pct(f.othersOnProxyCore)} of the proxy's core meanwhile)` : ""
      }`,
    );
  }
  const idle = idleBytesPerConn(r);
  const afterGc = r.idle?.afterGc === undefined ? undefined : (r.idle.afterGc.rssBytes - r.idle.rssBeforeBytes) / r.idle.connections;
  out.push(
    `memory per idle client connection under 10 KB: ${
      idle === undefined
        ? `not measured${r.idleError !== undefined ? ` (${r.idleError})` : ""}`
        : `${idle.toFixed(0)} bytes${afterGc === undefined ? "" : ` (${afterGc.toFixed(0)} after a full GC)`}, ${verdict(idle < TARGET_IDLE_BYTES)}`
    }`,
  );
  const mine = cpuPerRpcUs(r, "max");
  const ng = nginx === undefined ? undefined : cpuPerRpcUs(nginx, "max");
  out.push(
    `CPU per RPC at most 2.5x nginx's: ${
      mine === undefined || ng === undefined ? "not measured" : `${ratio(mine, ng)}, ${verdict(mine / ng <= TARGET_CPU_VS_NGINX)}`
    }`,
  );
  out.push(
    `peak RSS < 100 MB at ${info.clients} x ${info.streams}: ${
      r.peakRssBytes === undefined ? "not measured" : `${mb(r.peakRssBytes)} MB, ${verdict(r.peakRssBytes < TARGET_PEAK_RSS_BYTES)}`
    }`,
  );
  return out;
}

/**
 * The run's section: date, machine and software; the proxy scenarios' tables when any ran;
 * notes; the profile; then the other passes' own sections (`passes`, Markdown each).
 */
export function markdown(info: RunInfo, results: readonly ScenarioResult[], profile?: string, passes: readonly string[] = []): string {
  const t = info.tools;
  const lines: string[] = [`## ${info.date.toISOString().replace(/\.\d+Z$/, "Z")}`, ""];
  lines.push(
    `- machine: ${info.machine.nproc} CPUs (nproc), ${info.machine.cpuModel}, Linux ${info.machine.kernel}, load average at start ${info.machine.loadavg}`,
    `- software: node ${info.machine.node}; ${t["h2load"] ?? "h2load missing"}; ${t["nginx"] ?? "nginx missing"}; ${t["haproxy"] ?? "HAProxy missing"}`,
    `- command: \`npm run bench${info.args !== undefined && info.args.length > 0 ? ` -- ${info.args.join(" ")}` : ""}\``,
    `- sluice commit ${info.commit}${info.sluiceNodeFlags.length > 0 ? `, proxy run with node ${info.sluiceNodeFlags.join(" ")}` : ""}; backend: ${info.backend}`,
  );
  if (results.length > 0) lines.push(...scenarioLines(info, results));
  else lines.push("");
  if (info.notes.length > 0) {
    lines.push("Notes:", "", ...info.notes.map((n) => `- ${n}`), "");
  }
  if (profile !== undefined) lines.push("### sluice CPU profile (node --cpu-prof, separate run)", "", profile, "");
  for (const p of passes) lines.push(p, "");
  return lines.join("\n");
}

/** Method lines and tables of the proxy scenarios (direct, sluice, sluice-node, nginx, haproxy). */
function scenarioLines(info: RunInfo, results: readonly ScenarioResult[]): string[] {
  const frame = info.payloadBytes + 5;
  const lines: string[] = [];
  const by = (name: string): ScenarioResult | undefined => results.find((r) => r.name === name);
  const direct = by("direct");
  lines.push(
    `- method: h2load -c ${info.clients} -m ${info.streams} POSTs one ${frame}-byte gRPC frame (${info.payloadBytes}-byte message) to /sluice.demo.Echo/Unary for ${info.durationS} s per scenario after a warm-up;` +
      ` then a fixed ${info.fixedRps} RPS from ${info.fixedClients} connections x --rps ${info.fixedRps / info.fixedClients}, opened ${info.fixedConnectPerMs} per ms, measured after an unmeasured ${info.fixedWarmupSeconds} s pass of the same kind` +
      " (h2load's rate timer fires every max(10 ms, 1/rps) and sends what is due at once: at 100 RPS per connection and staggered connections, requests arrive spread out, not in bursts)," +
      " every request's time logged (h2load --log-file: stream submitted to response end);" +
      ` then one grpc-js channel (src/demo/echo-client.ts) runs ${info.latencyConcurrency} concurrent loops of ${info.latencyCount} unary RPCs, checking every status and echoed byte.` +
      (info.pinned
        ? " Each proxy is pinned to core 1 (taskset -c 1); h2load, the latency client, the idle-connection client and the backend to core 0."
        : " taskset missing: nothing pinned."),
    `- CPU µs/RPC = (utime + stime delta of the proxy process, /proc/PID/stat) / completed RPCs; system = busy time of all CPUs (/proc/stat) / RPCs; RSS = VmHWM of the proxy at the end. Each proxy is a fresh process; all scenarios ran in this one run.` +
      ` Added p99 = the proxy's p99 at the fixed rate - direct's p99 at the fixed rate, both from this run.` +
      ` CPU pressure = share of the fixed-rate pass in which some runnable task waited for a CPU (/proc/pressure/cpu "some"); other processes on core 1 = core 1's busy time (/proc/stat) minus the proxy's, over the pass.` +
      " Well above 0%, p99 measures waiting behind other processes more than the proxy.",
    ...(info.idleConns > 0
      ? [
          `- idle connections: another fresh proxy process gets ${results.find((r) => r.idle !== undefined)?.idle?.warmConnections ?? "a few"} warm-up client connections it keeps, then ${info.idleConns} more from bench/idle-conns.ts` +
            " (raw sockets: client preface + empty SETTINGS, the server's SETTINGS ACKed, ours ACKed by the server, then silence);" +
            " bytes per connection = (VmRSS after - VmRSS before) / connections, read once every handshake is acknowledged." +
            ' A node proxy runs with --inspect for this pass and gets a full GC (HeapProfiler.collectGarbage) before "before" and again after "after",' +
            " for the after-GC figure without the handshakes' uncollected garbage; the target is judged on the first figure.",
        ]
      : []),
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
      "### Fixed rate (h2load --rps, per-request times from --log-file)",
      "",
      "| scenario | target RPS | achieved RPS | failed / errored | p50 ms | p99 ms | max ms | added p99 ms | proxy CPU µs/RPC | CPU pressure | other processes on core 1 |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const r of results) {
      if (r.fixed === undefined) continue;
      const h = r.fixed.h2;
      const q = r.fixed.requests;
      lines.push(
        `| ${r.name} | ${r.fixed.targetRps} | ${h.rps.toFixed(0)} | ${h.failed} / ${h.errored} | ${ms(q.p50Us)} | ${ms(q.p99Us)} | ${ms(q.maxUs)} | ${
          r === direct ? "(baseline)" : ms(addedP99Us(r, direct))
        } | ${us(r.fixed.proxyCpuS, h.done)} | ${pct(r.fixed.cpuPressure)} | ${pct(Math.max(0, r.fixed.othersOnProxyCore))} |`,
      );
    }
    lines.push("");
  }
  if (results.some((r) => r.idle !== undefined || r.idleError !== undefined)) {
    lines.push(
      "### Idle client connections (fresh proxy process, VmRSS)",
      "",
      "| scenario | connections | handshakes s | proxy fds added | RSS before MB | RSS after MB | bytes per connection | after a full GC: bytes per connection | of which JS heap |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    );
    for (const r of results) {
      const i = r.idle;
      if (i === undefined) {
        if (r.idleError !== undefined) lines.push(`| ${r.name} | error: ${r.idleError} | | | | | | | |`);
        continue;
      }
      const perConn = (bytes: number): string => (bytes / i.connections).toFixed(0);
      const g = i.afterGc;
      lines.push(
        `| ${r.name} | ${i.connections} | ${i.handshakeSeconds.toFixed(2)} | ${i.fdsAfter - i.fdsBefore} | ${mb(i.rssBeforeBytes)} | ${mb(i.rssAfterBytes)} | ${perConn(
          i.rssAfterBytes - i.rssBeforeBytes,
        )} | ${g === undefined ? "-" : perConn(g.rssBytes - i.rssBeforeBytes)} | ${g === undefined ? "-" : perConn(g.heapAfterBytes - g.heapBeforeBytes)} |`,
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
  const sluice = by("sluice");
  if (sluice?.max !== undefined) {
    lines.push(
      "### Ratios",
      "",
      "| ratio | CPU/RPC at max load | CPU/RPC at fixed rate | RPS | p99 at fixed rate | p99 (grpc-js) | idle memory per connection |",
      "|---|---:|---:|---:|---:|---:|---:|",
    );
    for (const other of ["direct", "sluice-node", "nginx", "haproxy"]) {
      const o = by(other);
      if (o?.max === undefined) continue;
      const isDirect = other === "direct";
      lines.push(
        `| sluice / ${other} | ${isDirect ? "- (no proxy)" : ratio(cpuPerRpcUs(sluice, "max"), cpuPerRpcUs(o, "max"))} | ${
          isDirect ? "-" : ratio(cpuPerRpcUs(sluice, "fixed"), cpuPerRpcUs(o, "fixed"))
        } | ${ratio(sluice.max.h2.rps, o.max.h2.rps)} | ${ratio(sluice.fixed?.requests.p99Us, o.fixed?.requests.p99Us)} | ${ratio(
          sluice.latency?.p99Us,
          o.latency?.p99Us,
        )} | ${isDirect ? "-" : ratio(idleBytesPerConn(sluice), idleBytesPerConn(o))} |`,
      );
    }
    lines.push("");
    const added = results.flatMap((r) => {
      const a = r === direct ? undefined : addedP99Us(r, direct);
      return a === undefined ? [] : [`${r.name} ${ms(a)} ms`];
    });
    if (added.length > 0) lines.push(`Added p99 at ${info.fixedRps} RPS (proxy p99 - direct p99, this run): ${added.join(", ")}.`, "");
    lines.push("Targets for sluice (its own h2 transport):", "", ...targetLines(sluice, by, info).map((l) => `- ${l}`), "");
    const node = by("sluice-node");
    if (node?.max !== undefined) lines.push(`For comparison, sluice-node (node:http2 transport): ${targetLines(node, by, info).join("; ")}.`, "");
  }
  if (results.some((r) => r.name.endsWith("-tls"))) lines.push(...tlsLines(info, by));
  return lines;
}

/** The TLS scenarios side by side: CPU per RPC, handshakes, the ratios to HAProxy and the targets. */
function tlsLines(info: RunInfo, by: (name: string) => ScenarioResult | undefined): string[] {
  const names = ["direct-tls", "sluice-tls", "sluice-node-tls", "nginx-tls", "haproxy-tls"].filter((n) => by(n) !== undefined);
  const hsPerCpuS = (r: ScenarioResult | undefined): number | undefined =>
    r?.handshakes === undefined || r.handshakes.proxyCpuS <= 0 ? undefined : r.handshakes.connections / r.handshakes.proxyCpuS;
  const lines = [
    "### TLS on both sides (h2load over TLS to the proxy, the proxy over TLS to the backend)",
    "",
    "- method: as above, over TLS: certificates made for the run with openssl (a CA, one ECDSA P-256 certificate for the proxies, one for the backend);" +
      " every proxy verifies the backend's certificate against the CA and its name (`bench`) and negotiates ALPN h2 on both sides." +
      ` Handshakes: batches of 200 h2load connections opened at once (-c 200 -n 200 -m 1), each a full handshake (h2load resumes no session) and one RPC, after an unmeasured batch;` +
      " handshakes/s = connections / the sum of h2load's times; per CPU-second = connections / the proxy's CPU seconds over the batches. Upstream connections are kept, so this is the downstream handshake (plus one RPC).",
    "",
    "| scenario | negotiated (h2load side) | RPS at saturation | proxy CPU µs/RPC at saturation | proxy CPU µs/RPC at fixed rate | p99 ms at fixed rate | handshakes | failed | handshakes/s | handshakes per proxy CPU-second | proxy CPU µs per connection |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const n of names) {
    const r = by(n)!;
    if (r.max === undefined) {
      lines.push(`| ${n} | ${r.skipped !== undefined ? `skipped: ${r.skipped}` : `error: ${r.error ?? "no result"}`} | | | | | | | | | |`);
      continue;
    }
    const h = r.handshakes;
    lines.push(
      `| ${n} | ${r.max.h2.tls ?? "-"} | ${r.max.h2.rps.toFixed(0)} | ${us(r.max.proxyCpuS, r.max.h2.done)} | ${
        r.fixed === undefined ? "-" : us(r.fixed.proxyCpuS, r.fixed.h2.done)
      } | ${ms(r.fixed?.requests.p99Us)} | ${h?.connections ?? "-"} | ${h?.failed ?? "-"} | ${h === undefined ? "-" : (h.connections / h.seconds).toFixed(0)} | ${
        hsPerCpuS(r)?.toFixed(0) ?? "-"
      } | ${h === undefined ? "-" : us(h.proxyCpuS, h.connections)} |`,
    );
  }
  lines.push("");
  const sluice = by("sluice-tls");
  if (sluice?.max === undefined) return lines;
  lines.push("| ratio | CPU/RPC at saturation | CPU/RPC at fixed rate | RPS at saturation | handshakes per CPU-second |", "|---|---:|---:|---:|---:|");
  for (const other of ["sluice-node-tls", "nginx-tls", "haproxy-tls", "sluice"]) {
    const o = by(other);
    if (o?.max === undefined) continue;
    lines.push(
      `| sluice-tls / ${other} | ${ratio(cpuPerRpcUs(sluice, "max"), cpuPerRpcUs(o, "max"))} | ${ratio(cpuPerRpcUs(sluice, "fixed"), cpuPerRpcUs(o, "fixed"))} | ${ratio(
        sluice.max.h2.rps,
        o.max.h2.rps,
      )} | ${ratio(hsPerCpuS(sluice), hsPerCpuS(o))} |`,
    );
  }
  lines.push("");
  const haproxy = by("haproxy-tls");
  const targets: string[] = [];
  for (const which of ["max", "fixed"] as const) {
    const what = which === "max" ? "at saturation" : `at ${info.fixedRps} RPS`;
    const mine = cpuPerRpcUs(sluice, which);
    const theirs = haproxy === undefined ? undefined : cpuPerRpcUs(haproxy, which);
    targets.push(
      `CPU per proxied unary RPC with TLS on both sides ${what} at most HAProxy's: ${
        mine === undefined || theirs === undefined
          ? "not measured"
          : `${mine.toFixed(1)} vs ${theirs.toFixed(1)} µs (${ratio(mine, theirs)}), ${verdict(mine <= theirs)}`
      }`,
    );
  }
  const hs = hsPerCpuS(sluice);
  const hsHaproxy = hsPerCpuS(haproxy);
  targets.push(
    `TLS handshakes per proxy CPU-second beside HAProxy's: ${
      hs === undefined || hsHaproxy === undefined ? "not measured" : `${hs.toFixed(0)} vs ${hsHaproxy.toFixed(0)} (${ratio(hs, hsHaproxy)})`
    }`,
  );
  lines.push("Targets for sluice over TLS (its own h2 transport):", "", ...targets.map((t) => `- ${t}`), "");
  return lines;
}

/** The day's file of raw runs (bench/results/YYYY-MM-DD.md, UTC) under the repository root; docs/BENCHMARKS.md summarises them by hand. */
export function resultsFile(repoRoot: string, now = new Date()): string {
  return join(repoRoot, "bench", "results", `${now.toISOString().slice(0, 10)}.md`);
}

/** Appends a dated section to the day's results file, which starts with a header saying what it holds. */
export function appendSection(file: string, section: string): void {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true });
    const day = basename(file, ".md");
    writeFileSync(
      file,
      `# sluice benchmark runs: ${day}\n\nWritten by \`npm run bench\`, \`bench:client\`, \`bench:sim\` and \`bench:attacks\`: each run appends a dated section with the\nmachine, the tool versions and the baselines (no proxy, nginx, HAProxy) measured in the same run.\nOnly compare figures within one section. docs/BENCHMARKS.md summarises the latest.\n\n`,
    );
  }
  appendFileSync(file, `${section}\n`);
}
