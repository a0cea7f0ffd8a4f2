// `npm run bench`: the proxy-overhead benchmark from the project issue — "h2load, 8
// connections x 16 streams, unary 64-byte echo, proxy pinned to one core, CPU seconds /
// RPCs" — for no proxy (baseline), sluice, nginx and HAProxy in the same run, plus grpc-js
// latency, a fixed-rate pass (with per-request p50/p99 and the p99 each proxy adds over no
// proxy), peak RSS, and memory per idle client connection (a fresh proxy holding
// --idle-conns idle HTTP/2 connections). "sluice" runs its own HTTP/2 transport,
// "sluice-node" the node:http2 one (the oracle). Appends the figures and the targets
// (met / NOT met) to bench/results/DATE.md. Two more passes, each a section of its own: the
// cost of maxRequestsPerConnection N = 1, 10, 100, 1000 against unlimited
// (bench/max-requests.ts), and the time a newly added backend takes to reach its fair share
// in request and connection mode (bench/fair-share.ts). The TLS passes (direct-tls,
// sluice-tls, sluice-node-tls, nginx-tls, haproxy-tls) do the same with TLS on both sides of
// each proxy (certificates made for the run, a node:http2 backend over TLS; bench/tls.ts)
// and, instead of the idle-memory pass, a handshake pass: short connections, each a full TLS
// handshake and one RPC, for the proxy's CPU per handshake.
//
//   npm run bench -- [--duration 10] [--only NAME,...] [--skip NAME,...] [--backend auto|nginx|node]
//                    [--latency-count 5000] [--idle-conns 2000 (0 skips)] [--profile] [--no-write]
//                    [--sluice-node-flags "--max-semi-space-size=4"] [--tls]
//
// NAMEs: the proxy scenarios direct, sluice, sluice-node, nginx, haproxy, their TLS twins
// direct-tls, sluice-tls, sluice-node-tls, nginx-tls, haproxy-tls, and the passes
// max-requests, fair-share; every one runs unless --only lists others or --skip names it
// (e.g. `--only max-requests,fair-share` runs the two new passes alone, ~1.5 minutes).
// --tls is short for --only with the five TLS scenarios.
//
// --profile (or SLUICE_BENCH_PROFILE=1) adds a separate sluice pass under node --cpu-prof and
// a summary of it (one over TLS when sluice-tls runs); the .cpuprofile is kept under
// dist/bench/profiles/.
// Everything listens on 127.0.0.1 only; every child process is killed on the way out.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fairShareMarkdown, fairSharePass } from "./fair-share.js";
import { h2load, readRequestLog, type H2loadResult } from "./h2load.js";
import { idleMemory } from "./idle-memory.js";
import type { LatencyResult } from "./latency.js";
import { maxRequestsMarkdown, maxRequestsPass } from "./max-requests.js";
import { busySeconds, cpuPressureUs, cpuSeconds, killAll, killChildrenOnExit, loadavg1, peakRss, runToEnd, stop, tasksetAvailable } from "./procs.js";
import { loadProfile, profileMarkdown, summarize } from "./profile.js";
import { appendSection, gitCommit, machineInfo, markdown, resultsFile, type RunInfo, type ScenarioResult } from "./report.js";
import { handshakePass, makeCertificates, type TlsFiles } from "./tls.js";
import {
  detectTools,
  echoModulePath,
  startHaproxy,
  startNginxBackend,
  startNginxProxy,
  startNodeBackend,
  startSluice,
  type StartTarget,
  type Target,
} from "./targets.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = join(here, "../..");

const PROXY_CORE = 1;
const LOAD_CORE = 0;
const CLIENTS = 8;
const STREAMS = 16;
const PAYLOAD = 64;
const FIXED_RPS = 5000;
const FIXED_SECONDS = 5;
/**
 * An unmeasured fixed-rate pass first, the same way: the saturation pass warms other code
 * paths (full batches) than one request per read, and sluice's first ~0.4 s at the fixed
 * rate ran JIT-cold (p99 1.3 ms against 1.0 ms for the same process's second pass).
 */
const FIXED_WARMUP_SECONDS = 2;
/**
 * The fixed-rate pass spreads FIXED_RPS over FIXED_CLIENTS connections of at most 100 RPS
 * each, opened a few per millisecond: h2load's --rps timer fires every max(10 ms, 1/rps) and
 * submits everything then due at once, so 8 x 625 RPS arrived as ~50-request bursts every
 * 10 ms, and per-request times measured how long a burst took to clear, not latency at a
 * steady 5,000 RPS. At 100 RPS a connection sends one request per tick, and staggered
 * connections put their ticks at different points of the 10 ms period.
 */
const FIXED_CLIENTS = 50;
const FIXED_CONNECT = { perPeriod: 5, periodMs: 1 };
const WARMUP_REQUESTS = 20_000;
const LATENCY_CONCURRENCY = 16;
const PATH = "/sluice.demo.Echo/Unary";
/** A 1-minute load average above this before anything starts means someone else is using the machine. */
const SHARED_LOAD = 0.5;

/** Everything --only and --skip can name, in the order the run takes them. */
const TLS_PASSES = ["direct-tls", "sluice-tls", "sluice-node-tls", "nginx-tls", "haproxy-tls"] as const;
const PASSES = ["direct", "sluice", "sluice-node", "nginx", "haproxy", ...TLS_PASSES, "max-requests", "fair-share"] as const;
/** Handshake pass: this many batches of bench/tls.ts's 200 connections. */
const HANDSHAKE_BATCHES = 10;

interface Options {
  durationS: number;
  only: Set<string>;
  backend: "auto" | "nginx" | "node";
  latencyCount: number;
  idleConns: number;
  profile: boolean;
  write: boolean;
  sluiceNodeFlags: string[];
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    durationS: 10,
    only: new Set(PASSES),
    backend: "auto",
    latencyCount: 5000,
    idleConns: 2000,
    profile: process.env["SLUICE_BENCH_PROFILE"] === "1",
    write: true,
    sluiceNodeFlags: [],
  };
  const skip: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--duration") o.durationS = bounded(Number(value()), 1, 120, "--duration");
    else if (a === "--only") o.only = new Set(passNames(value(), a));
    else if (a === "--tls") o.only = new Set(TLS_PASSES);
    else if (a === "--skip") skip.push(...passNames(value(), a));
    else if (a === "--backend") {
      const b = value();
      if (b !== "auto" && b !== "nginx" && b !== "node") throw new Error(`--backend auto|nginx|node, got ${b}`);
      o.backend = b;
    } else if (a === "--latency-count") o.latencyCount = bounded(Number(value()), 100, 100_000, "--latency-count");
    else if (a === "--idle-conns") {
      const n = Number(value());
      o.idleConns = n === 0 ? 0 : bounded(n, 100, 10_000, "--idle-conns (or 0 to skip)");
    } else if (a === "--profile") o.profile = true;
    else if (a === "--no-write") o.write = false;
    else if (a === "--sluice-node-flags")
      o.sluiceNodeFlags = value()
        .split(/\s+/)
        .filter((f) => f.length > 0);
    else throw new Error(`unknown option ${a}`);
  }
  for (const n of skip) o.only.delete(n); // after --only, wherever it stood
  return o;
}

function passNames(list: string, flag: string): string[] {
  const names = list.split(",").filter((n) => n.length > 0);
  const unknown = names.filter((n) => !(PASSES as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`${flag}: unknown ${unknown.join(", ")}; known: ${PASSES.join(", ")}`);
  return names;
}

function bounded(n: number, lo: number, hi: number, what: string): number {
  if (!Number.isFinite(n) || n < lo || n > hi) throw new Error(`${what} must be in ${lo}..${hi}`);
  return n;
}

/** The grpc-js latency pass; with `ca`, over TLS verified against it. */
async function latency(port: number, count: number, ca?: string): Promise<LatencyResult> {
  const out = await runToEnd(
    process.execPath,
    [join(here, "latency.js"), `127.0.0.1:${port}`, String(LATENCY_CONCURRENCY), String(count), "200", String(PAYLOAD), ...(ca === undefined ? [] : [ca])],
    { core: LOAD_CORE, timeoutMs: 120_000 },
  );
  if (out.code !== 0) throw new Error(`latency client failed (${out.code}): ${out.stderr.slice(-1000)}`);
  return JSON.parse(out.stdout.trim().split("\n").pop() ?? "{}") as LatencyResult;
}

interface Ctx {
  readonly dir: string;
  readonly bodyFile: string;
  readonly backend: Target;
  readonly opts: Options;
  readonly hasH2load: boolean;
  /** TLS passes: h2load and the latency client speak TLS; `backend` is the TLS one. */
  readonly tls?: TlsFiles;
}

const urlOf = (ctx: Ctx, port: number): string => `${ctx.tls === undefined ? "http" : "https"}://127.0.0.1:${port}${PATH}`;

const loadBefore: string[] = [];

async function measure(ctx: Ctx, name: string, port: number, proxyPid: number | undefined): Promise<ScenarioResult> {
  loadBefore.push(`${name} ${loadavg1().toFixed(2)}`);
  const base = { url: urlOf(ctx, port), bodyFile: ctx.bodyFile, clients: CLIENTS, streams: STREAMS, core: LOAD_CORE };
  let max: ScenarioResult["max"];
  let fixed: ScenarioResult["fixed"];
  if (ctx.hasH2load) {
    await h2load({ ...base, requests: WARMUP_REQUESTS });
    const p0 = proxyPid !== undefined ? cpuSeconds(proxyPid) : undefined;
    const b0 = cpuSeconds(ctx.backend.proc.pid);
    const s0 = busySeconds();
    const h2: H2loadResult = await h2load({ ...base, durationS: ctx.opts.durationS });
    max = {
      h2,
      proxyCpuS: proxyPid !== undefined ? cpuSeconds(proxyPid) - p0! : undefined,
      backendCpuS: cpuSeconds(ctx.backend.proc.pid) - b0,
      systemCpuS: busySeconds() - s0,
    };
    console.error(`  ${name}: ${h2.rps.toFixed(0)} RPS, failed ${h2.failed}, errored ${h2.errored}`);
    const fixedRun = { ...base, clients: FIXED_CLIENTS, rpsPerClient: FIXED_RPS / FIXED_CLIENTS, connectRate: FIXED_CONNECT };
    await h2load({ ...fixedRun, requests: FIXED_RPS * FIXED_WARMUP_SECONDS });
    const f0 = proxyPid !== undefined ? cpuSeconds(proxyPid) : undefined;
    const logFile = join(ctx.dir, `${name}-fixed.log`);
    const psi0 = cpuPressureUs();
    const core0 = busySeconds(PROXY_CORE);
    const fh2 = await h2load({ ...fixedRun, requests: FIXED_RPS * FIXED_SECONDS, logFile });
    const psi1 = cpuPressureUs();
    const proxyCpuS = proxyPid !== undefined ? cpuSeconds(proxyPid) - f0! : undefined;
    const othersOnProxyCore = (busySeconds(PROXY_CORE) - core0 - (proxyCpuS ?? 0)) / fh2.seconds;
    const requests = readRequestLog(logFile);
    const cpuPressure = psi0 === undefined || psi1 === undefined ? undefined : (psi1 - psi0) / 1e6 / fh2.seconds;
    fixed = { targetRps: FIXED_RPS, h2: fh2, proxyCpuS, requests, cpuPressure, othersOnProxyCore };
    console.error(
      `  ${name}: fixed rate ${fh2.rps.toFixed(0)} RPS, p50 ${(requests.p50Us / 1000).toFixed(2)} ms, p99 ${(requests.p99Us / 1000).toFixed(2)} ms` +
        (requests.failed + requests.non200 > 0 ? `, ${requests.failed} failed / ${requests.non200} non-200 in the log` : ""),
    );
  }
  const lat = await latency(port, ctx.opts.latencyCount, ctx.tls?.ca);
  console.error(`  ${name}: p50 ${(lat.p50Us / 1000).toFixed(2)} ms, p99 ${(lat.p99Us / 1000).toFixed(2)} ms, errors ${lat.errors}`);
  return {
    name,
    max,
    fixed,
    latency: lat,
    peakRssBytes: proxyPid !== undefined ? peakRss(proxyPid) : undefined,
  };
}

async function scenario(ctx: Ctx, name: string, startTarget: StartTarget): Promise<ScenarioResult> {
  console.error(`bench: ${name}`);
  let target: Target | undefined;
  let result: ScenarioResult;
  try {
    target = await startTarget({ inspect: false });
    result = await measure(ctx, name, target.port, target.proc.pid);
    if (ctx.tls !== undefined && ctx.hasH2load && name !== "direct-tls") {
      const hs = await handshakePass(urlOf(ctx, target.port), ctx.bodyFile, target.proc.pid, HANDSHAKE_BATCHES, LOAD_CORE);
      console.error(
        `  ${name}: ${hs.connections} TLS handshakes (+1 RPC each), ${(hs.connections / hs.seconds).toFixed(0)}/s, ` +
          `${(hs.connections / hs.proxyCpuS).toFixed(0)} per proxy CPU-second, ${hs.failed} failed`,
      );
      result = { ...result, handshakes: hs };
    }
  } catch (err) {
    let message = err instanceof Error ? err.message : String(err);
    const proc = target?.proc;
    if (proc !== undefined && proc.child.exitCode !== null) {
      // The proxy died under load: its own last words say more than the reader of /proc that noticed.
      const said = proc
        .stderr()
        .trim()
        .split("\n")
        .filter((l) => !l.startsWith("{") && !l.startsWith("    at "));
      message = `proxy exited with ${proc.child.exitCode}: ${said.find((l) => /Error/.test(l)) ?? said.slice(-3).join(" / ")} (then: ${message})`;
    }
    console.error(`bench: ${name} failed: ${message}`);
    return { name, error: message.split("\n")[0] ?? message };
  } finally {
    if (target !== undefined) await stop(target.proc);
  }
  // bench/idle-conns.ts speaks plaintext HTTP/2 only.
  if (ctx.opts.idleConns === 0 || ctx.tls !== undefined) return result;
  try {
    const idle = await idleMemory(ctx.opts.idleConns, startTarget, LOAD_CORE);
    const perConn = (rssBytes: number): string => ((rssBytes - idle.rssBeforeBytes) / idle.connections).toFixed(0);
    console.error(
      `  ${name}: ${idle.connections} idle connections, ${perConn(idle.rssAfterBytes)} bytes each` +
        (idle.afterGc !== undefined ? ` (${perConn(idle.afterGc.rssBytes)} after a full GC)` : "") +
        `, proxy fds +${idle.fdsAfter - idle.fdsBefore}`,
    );
    return { ...result, idle };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`bench: ${name} idle connections failed: ${message}`);
    return { ...result, idleError: message.split("\n")[0] ?? message };
  }
}

/** Starts the cheapest backend that works and proves it speaks correct gRPC to grpc-js. */
async function startBackend(dir: string, opts: Options, notes: string[], tls?: TlsFiles): Promise<Target> {
  if (tls !== undefined) {
    // nginx's echo module would need its own TLS server block; the node backend serves TLS as is.
    const t = await startNodeBackend(LOAD_CORE, tls);
    const check = await latency(t.port, 200, tls.ca);
    if (check.errors > 0) throw new Error(`node TLS backend answers wrongly: ${check.firstError ?? ""}`);
    return t;
  }
  const tryNginx = opts.backend !== "node";
  if (tryNginx && existsSync(echoModulePath)) {
    let t: Target | undefined;
    try {
      t = await startNginxBackend(dir, LOAD_CORE);
      const check = await latency(t.port, 200);
      if (check.errors === 0) return t;
      notes.push(`nginx echo backend rejected: ${check.firstError ?? "errors"}; used the node:http2 backend.`);
    } catch (err) {
      notes.push(`nginx echo backend failed to start (${(err as Error).message.split("\n")[0]}); used the node:http2 backend.`);
    }
    if (t !== undefined) await stop(t.proc);
  } else if (tryNginx) {
    notes.push(`nginx echo module (${echoModulePath}) missing: used the node:http2 backend (bench/backend.ts), which costs more CPU per RPC.`);
  }
  const t = await startNodeBackend(LOAD_CORE);
  const check = await latency(t.port, 200);
  if (check.errors > 0) throw new Error(`node backend answers wrongly: ${check.firstError ?? ""}`);
  return t;
}

async function profileSluice(ctx: Ctx): Promise<string> {
  const tag = ctx.tls === undefined ? "sluice" : "sluice-tls";
  const profDir = join(ctx.dir, `profile-${tag}`);
  mkdirSync(profDir, { recursive: true });
  const target = await startSluice(ctx.dir, ctx.backend.port, PROXY_CORE, {
    cpuProfileDir: profDir,
    nodeFlags: ctx.opts.sluiceNodeFlags,
    ...(ctx.tls === undefined ? {} : { tls: ctx.tls }),
  });
  let rpcs = 0;
  try {
    const base = { url: urlOf(ctx, target.port), bodyFile: ctx.bodyFile, clients: CLIENTS, streams: STREAMS, core: LOAD_CORE };
    rpcs += (await h2load({ ...base, requests: WARMUP_REQUESTS })).done;
    rpcs += (await h2load({ ...base, durationS: ctx.opts.durationS })).done;
  } finally {
    // SIGTERM: the proxy drains and exits, and node writes the profile on exit.
    await stop(target.proc, 10_000);
  }
  const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  if (file === undefined) throw new Error(`no .cpuprofile written (did the proxy exit cleanly on SIGTERM?): ${target.proc.stderr().slice(-500)}`);
  const keepDir = join(here, "profiles");
  mkdirSync(keepDir, { recursive: true });
  const kept = join(keepDir, `${tag}-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`);
  copyFileSync(join(profDir, file), kept);
  console.error(`bench: profile kept at ${kept}`);
  return `${profileMarkdown(summarize(loadProfile(kept), rpcs))}\n\n(Raw profile: ${kept}; open it in Chrome DevTools or summarize with \`node dist/bench/profile.js FILE RPCS\`.)`;
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  killChildrenOnExit();
  const tools = detectTools();
  const notes: string[] = [];
  const hasH2load = tools.h2load.version !== undefined;
  if (!hasH2load) notes.push("h2load (Debian nghttp2-client) missing: throughput, CPU per RPC and fixed-rate passes skipped; latency only.");
  if (!tasksetAvailable()) notes.push("taskset missing: processes not pinned; CPU per RPC still valid, RPS not comparable.");
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
  const bodyFile = join(dir, "body.bin");
  const frame = Buffer.alloc(5 + PAYLOAD, 0x61);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(PAYLOAD, 1);
  writeFileSync(bodyFile, frame);
  const results: ScenarioResult[] = [];
  let backend: Target | undefined;
  let tlsBackend: Target | undefined;
  let profile: string | undefined;
  /** The max-requests and fair-share sections. */
  const passes: string[] = [];
  const loadAtStart = loadavg1();
  if (loadAtStart > SHARED_LOAD) {
    notes.push(
      `1-minute load average ${loadAtStart.toFixed(2)} before the benchmark started anything: other processes shared this ${cpus().length}-CPU machine during the run.` +
        " Compare figures measured side by side within one table (ratios), not absolute figures across runs.",
    );
  }
  try {
    backend = await startBackend(dir, opts, notes);
    console.error(`bench: backend ${backend.name} on 127.0.0.1:${backend.port}`);
    const ctx: Ctx = { dir, bodyFile, backend, opts, hasH2load };
    const be = backend;
    if (opts.only.has("direct")) {
      console.error("bench: direct");
      try {
        results.push(await measure(ctx, "direct", be.port, undefined));
      } catch (err) {
        results.push({ name: "direct", error: (err as Error).message.split("\n")[0] });
      }
    }
    const sluice =
      (transport: "h2" | "node"): StartTarget =>
      (o) =>
        startSluice(dir, be.port, PROXY_CORE, { nodeFlags: opts.sluiceNodeFlags, transport, inspect: o.inspect });
    if (opts.only.has("sluice")) results.push(await scenario(ctx, "sluice", sluice("h2")));
    if (opts.only.has("sluice-node")) results.push(await scenario(ctx, "sluice-node", sluice("node")));
    if (opts.only.has("nginx")) {
      if (tools.nginx.version === undefined) results.push({ name: "nginx", skipped: "nginx not installed" });
      else results.push(await scenario(ctx, "nginx", () => startNginxProxy(dir, be.port, PROXY_CORE)));
    }
    if (opts.only.has("haproxy")) {
      if (tools.haproxy.version === undefined) results.push({ name: "haproxy", skipped: "haproxy not installed" });
      else results.push(await scenario(ctx, "haproxy", () => startHaproxy(dir, be.port, PROXY_CORE)));
    }
    let tlsCtx: Ctx | undefined;
    if (TLS_PASSES.some((n) => opts.only.has(n))) {
      const certDir = join(dir, "tls");
      mkdirSync(certDir);
      const files = makeCertificates(certDir);
      tlsBackend = await startBackend(dir, opts, notes, files);
      console.error(`bench: TLS backend ${tlsBackend.name} on 127.0.0.1:${tlsBackend.port}`);
      const tctx: Ctx = { ...ctx, backend: tlsBackend, tls: files };
      tlsCtx = tctx;
      const tbe = tlsBackend;
      if (opts.only.has("direct-tls")) {
        console.error("bench: direct-tls");
        try {
          results.push(await measure(tctx, "direct-tls", tbe.port, undefined));
        } catch (err) {
          results.push({ name: "direct-tls", error: (err as Error).message.split("\n")[0] });
        }
      }
      const sluiceTls =
        (transport: "h2" | "node"): StartTarget =>
        (o) =>
          startSluice(dir, tbe.port, PROXY_CORE, { nodeFlags: opts.sluiceNodeFlags, transport, inspect: o.inspect, tls: files });
      if (opts.only.has("sluice-tls")) results.push(await scenario(tctx, "sluice-tls", sluiceTls("h2")));
      if (opts.only.has("sluice-node-tls")) results.push(await scenario(tctx, "sluice-node-tls", sluiceTls("node")));
      if (opts.only.has("nginx-tls")) {
        if (tools.nginx.version === undefined) results.push({ name: "nginx-tls", skipped: "nginx not installed" });
        else results.push(await scenario(tctx, "nginx-tls", () => startNginxProxy(dir, tbe.port, PROXY_CORE, files)));
      }
      if (opts.only.has("haproxy-tls")) {
        if (tools.haproxy.version === undefined) results.push({ name: "haproxy-tls", skipped: "haproxy not installed" });
        else results.push(await scenario(tctx, "haproxy-tls", () => startHaproxy(dir, tbe.port, PROXY_CORE, files)));
      }
    }
    const env = { dir, proxyCore: PROXY_CORE, loadCore: LOAD_CORE, nodeFlags: opts.sluiceNodeFlags };
    if (opts.only.has("max-requests")) {
      if (!hasH2load) notes.push("max-requests needs h2load; skipped.");
      else passes.push(maxRequestsMarkdown(await maxRequestsPass({ ...env, bodyFile, backend: be, path: PATH }, frame.length)));
    }
    if (opts.only.has("fair-share")) passes.push(fairShareMarkdown(await fairSharePass(env)));
    if (opts.profile) {
      if (!hasH2load) notes.push("--profile needs h2load; skipped.");
      else {
        // The plaintext proxy unless only TLS passes ran; the TLS one when sluice-tls ran.
        const profiled = [
          ...(opts.only.has("sluice") || tlsCtx === undefined ? [ctx] : []),
          ...(tlsCtx !== undefined && opts.only.has("sluice-tls") ? [tlsCtx] : []),
        ];
        const parts: string[] = [];
        for (const c of profiled) {
          const what = c.tls === undefined ? "sluice" : "sluice over TLS (both sides)";
          console.error(`bench: ${what} under node --cpu-prof`);
          try {
            parts.push(`#### ${what}\n\n${await profileSluice(c)}`);
          } catch (err) {
            notes.push(`profile of ${what} failed: ${(err as Error).message.split("\n")[0]}`);
          }
        }
        if (parts.length > 0) profile = parts.join("\n\n");
      }
    }
  } finally {
    if (backend !== undefined) await stop(backend.proc);
    if (tlsBackend !== undefined) await stop(tlsBackend.proc);
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
  for (const r of results) if (r.skipped !== undefined) notes.push(`${r.name} skipped: ${r.skipped}.`);
  if (loadBefore.length > 0) {
    const busy = loadBefore.some((l) => Number(l.split(" ")[1]) > 1.5);
    notes.push(
      `1-minute load average before each scenario: ${loadBefore.join(", ")}.` +
        (busy
          ? " Other processes were running on this 2-core machine: RPS, latency (p99 above all) and the load core's figures are skewed;" +
            " the proxy's own CPU µs/RPC is the most robust figure here."
          : ""),
    );
  }
  const info: RunInfo = {
    date: new Date(),
    machine: machineInfo(),
    tools: Object.fromEntries(Object.entries(tools).flatMap(([k, v]) => (v.version !== undefined ? [[k, v.version]] : []))),
    commit: gitCommit(),
    backend: (backend?.name ?? "none") + (tlsBackend === undefined ? "" : `; TLS passes: ${tlsBackend.name}`),
    durationS: opts.durationS,
    clients: CLIENTS,
    streams: STREAMS,
    payloadBytes: PAYLOAD,
    pinned: tasksetAvailable(),
    sluiceNodeFlags: opts.sluiceNodeFlags,
    args: process.argv.slice(2),
    fixedRps: FIXED_RPS,
    fixedClients: FIXED_CLIENTS,
    fixedConnectPerMs: FIXED_CONNECT.perPeriod / FIXED_CONNECT.periodMs,
    fixedWarmupSeconds: FIXED_WARMUP_SECONDS,
    latencyConcurrency: LATENCY_CONCURRENCY,
    latencyCount: opts.latencyCount,
    idleConns: opts.idleConns,
    notes,
  };
  const section = markdown(info, results, profile, passes);
  console.log(section);
  if (opts.write) {
    const file = resultsFile(repoRoot);
    appendSection(file, section);
    console.error(`bench: appended to ${file}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  killAll();
  process.exitCode = 1;
});
