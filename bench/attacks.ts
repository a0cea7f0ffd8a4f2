// `npm run bench:attacks`: issue 19's "the attack beside a normal client" measured. For each
// transport (h2, node), `sluice proxy` runs as a child process (pinned to core 1) in front of
// 2 grpc-js echo pods (bench/attack-pods.ts, a process of their own), with a DestinationRule
// that makes two of the outages possible at all: outlierDetection with consecutive5xxErrors 3
// and maxEjectionPercent 100, and tcp.maxConnections 2. A normal grpc-js client (this
// process, one channel) sends unary RPCs at a fixed rate with a 5 s deadline throughout: a
// quiet run first, then each attack (bench/attacker.ts, its own process at nice 19, so it
// stands in for a client on another machine rather than for a CPU hog beside the pods) for
// --duration seconds, then --after seconds without it. For each attack: the normal client's
// failure rate and p50/p99 latency against the quiet run, during and after; the proxy's
// open sockets (/proc/PID/fd) before, at the end and after (and how long they took to come
// back); the streams that reached the pods (grpc-js channelz); what the attacker got.
// Each row is met / NOT met against the issue's bounds: failure rate within 1 percentage
// point of quiet, p50 within 2x of quiet, during and after the attack, and the proxy's
// sockets back to the quiet count within SETTLE_MS after it.
//
//   npm run bench:attacks -- [--duration 10] [--quiet 10] [--after 5] [--rate 200]
//                            [--transport h2,node] [--only ATTACK,...] [--no-write]
//
// Loopback only; connections bounded by each attack (bench/attacker.ts); every child is
// killed on the way out.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { setPriority, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as grpc from "@grpc/grpc-js";
import { callUnary, echoClient } from "../src/demo/echo-client.js";
import type { PodsStats } from "./attack-pods.js";
import { ATTACKS, type Attack, type AttackerResult } from "./attacker.js";
import { killAll, killChildrenOnExit, loadavg1, start, stop, tasksetAvailable, waitFor, type Started } from "./procs.js";
import { appendSection, gitCommit, machineInfo, resultsFile } from "./report.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = join(here, "../..");

const PROXY_CORE = 1;
const LOAD_CORE = 0;
const PODS = 2;
const DEADLINE_MS = 5000;
/** Not measured: JIT, connections. */
const WARMUP_MS = 2000;
/** The proxy's sockets must be back to the quiet count within this after an attack (close-after-fin's 5 s linger, and room). */
const SETTLE_MS = 15_000;
/** How often the proxy's sockets are counted during an attack (for the peak). */
const SAMPLE_MS = 250;
const TRANSPORTS = ["h2", "node"] as const;
type Transport = (typeof TRANSPORTS)[number];
/** The issue's bounds. */
const FAIL_POINTS = 0.01;
const P50_RATIO = 2;

interface Options {
  durationS: number;
  quietS: number;
  afterS: number;
  rate: number;
  transports: Transport[];
  attacks: Attack[];
  write: boolean;
}

function parseArgs(argv: readonly string[]): Options {
  const o: Options = { durationS: 10, quietS: 10, afterS: 5, rate: 200, transports: [...TRANSPORTS], attacks: [...ATTACKS], write: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === "--duration") o.durationS = bounded(Number(value()), 1, 120, a);
    else if (a === "--quiet") o.quietS = bounded(Number(value()), 1, 120, a);
    else if (a === "--after") o.afterS = bounded(Number(value()), 1, 60, a);
    else if (a === "--rate") o.rate = bounded(Number(value()), 10, 2000, a);
    else if (a === "--transport") o.transports = names(value(), TRANSPORTS, a);
    else if (a === "--only") o.attacks = names(value(), ATTACKS, a);
    else if (a === "--no-write") o.write = false;
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

function names<T extends string>(list: string, known: readonly T[], flag: string): T[] {
  const out = list.split(",").filter((n) => n.length > 0);
  const unknown = out.filter((n) => !(known as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`${flag}: unknown ${unknown.join(", ")}; known: ${known.join(", ")}`);
  return out as T[];
}

function bounded(n: number, lo: number, hi: number, what: string): number {
  if (!Number.isFinite(n) || n < lo || n > hi) throw new Error(`${what} must be in ${lo}..${hi}`);
  return n;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function configYaml(transport: Transport, ports: readonly number[]): string {
  const endpoints = ports.map((p) => `    - address: 127.0.0.1\n      ports: { grpc: ${p} }\n`).join("");
  return `apiVersion: sluice.dev/v1alpha1
kind: Proxy
metadata: { name: attacks }
spec:
  listen: 127.0.0.1:0
  admin: 127.0.0.1:0
  transport: ${transport}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: bench }
spec:
  hosts: [bench]
  ports:
    - { number: 50051, name: grpc, protocol: GRPC }
  resolution: STATIC
  endpoints:
${endpoints}---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: bench }
spec:
  host: bench
  trafficPolicy:
    connectionPool: { tcp: { maxConnections: 2 } }
    outlierDetection: { consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100 }
`;
}

/** Socket descriptors a process holds (/proc/PID/fd entries that are sockets): listeners, downstream and upstream connections. */
function socketCount(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith("socket:")) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

const TCP_STATES: Record<string, string> = {
  "01": "ESTABLISHED",
  "04": "FIN-WAIT-1",
  "05": "FIN-WAIT-2",
  "06": "TIME-WAIT",
  "07": "CLOSE",
  "08": "CLOSE-WAIT",
  "09": "LAST-ACK",
  "0A": "LISTEN",
  "0B": "CLOSING",
};

/**
 * The proxy's TCP sockets by role and state ("downstream CLOSE-WAIT 3, upstream ESTABLISHED 2"):
 * its descriptors matched by inode against /proc/net/tcp; a socket whose remote port is a
 * pod's is upstream, one whose local port is the proxy's listening port downstream.
 */
function socketStates(pid: number, proxyPort: number, podPorts: readonly number[]): string {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m !== null) inodes.add(m[1]!);
    } catch {
      // closed while we looked
    }
  }
  const byKind = new Map<string, number>();
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !inodes.has(f[9]!)) continue;
      const local = parseInt(f[1]!.split(":")[1]!, 16);
      const remote = parseInt(f[2]!.split(":")[1]!, 16);
      const state = TCP_STATES[f[3]!] ?? f[3]!;
      const role = state === "LISTEN" ? "listening" : podPorts.includes(remote) ? "upstream" : local === proxyPort ? "downstream" : "admin/other";
      byKind.set(`${role} ${state}`, (byKind.get(`${role} ${state}`) ?? 0) + 1);
    }
  }
  return [...byKind].map(([k, n]) => `${k} ${n}`).join(", ");
}

/** The proxy's counters the attacks move, summed over their labels, from its admin /metrics. */
const COUNTERS = {
  upstreamCx: "envoy_cluster_upstream_cx_total",
  ejections: "envoy_cluster_outlier_detection_ejections_enforced_total",
  prematureCancelClosed: "sluice_downstream_cx_premature_cancel_closed_total",
  cxOverflow: "envoy_listener_downstream_cx_overflow",
} as const;
type Counters = Record<keyof typeof COUNTERS, number>;

/** GET with no keep-alive: an admin connection left open would count among the proxy's sockets. */
function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent: false, headers: { connection: "close" }, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error(`${url}: no answer in 5 s`)));
    req.on("error", reject);
  });
}

async function counters(adminUrl: string): Promise<Counters> {
  const text = await getText(`${adminUrl}metrics`);
  const out = {} as Counters;
  for (const [key, name] of Object.entries(COUNTERS) as Array<[keyof Counters, string]>) {
    out[key] = 0;
    for (const line of text.split("\n"))
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) out[key] += Number(line.slice(line.lastIndexOf(" ") + 1)) || 0;
  }
  return out;
}

interface Rpc {
  readonly at: number;
  ms: number;
  code: number;
}

/** The normal client: one channel, `rate` unary RPCs a second, each with a 5 s deadline, until stopped. */
class NormalClient {
  readonly rpcs: Rpc[] = [];
  private readonly client: grpc.Client;
  private running = true;
  private readonly inFlight = new Set<Promise<void>>();
  private loop: Promise<void> | undefined;
  firstError: string | undefined;

  constructor(
    target: string,
    private readonly rate: number,
  ) {
    this.client = echoClient(target);
  }

  start(): void {
    const t0 = performance.now();
    const payload = Buffer.from("normal client");
    this.loop = (async () => {
      let sent = 0;
      while (this.running) {
        // As many as are due, so a late timer does not lower the rate.
        const due = Math.floor(((performance.now() - t0) * this.rate) / 1000);
        for (; sent < due; sent++) {
          const rpc: Rpc = { at: performance.now(), ms: NaN, code: -1 };
          this.rpcs.push(rpc);
          const p = callUnary(this.client, payload, undefined, { deadline: Date.now() + DEADLINE_MS }).then((r) => {
            rpc.ms = performance.now() - rpc.at;
            rpc.code = r.code;
            if (r.code !== 0) this.firstError ??= `${r.code} ${r.details}`;
            this.inFlight.delete(p);
          });
          this.inFlight.add(p);
        }
        await sleep(Math.max(1, 1000 / this.rate));
      }
    })();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.loop;
    await Promise.all(this.inFlight);
    this.client.close();
  }
}

interface Window {
  readonly rpcs: number;
  readonly failed: number;
  readonly failRate: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Status codes of the failures, by count. */
  readonly codes: Record<string, number>;
}

function windowOf(rpcs: readonly Rpc[], from: number, to: number): Window {
  const inside = rpcs.filter((r) => r.at >= from && r.at < to);
  const failed = inside.filter((r) => r.code !== 0);
  const codes: Record<string, number> = {};
  for (const r of failed) codes[String(r.code)] = (codes[String(r.code)] ?? 0) + 1;
  // Failed RPCs' latency counts too (a deadline hit took 5 s); latency is the client's wait.
  const ms = inside.map((r) => r.ms).sort((a, b) => a - b);
  const q = (p: number): number => (ms.length === 0 ? NaN : ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!);
  return {
    rpcs: inside.length,
    failed: failed.length,
    failRate: inside.length === 0 ? 0 : failed.length / inside.length,
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    codes,
  };
}

interface AttackRow {
  readonly transport: Transport;
  readonly attack: Attack;
  readonly loadavg: number;
  /** The proxy's sockets: before (its quiet count), peak during, at the end, at the end of the after window. */
  readonly sockets: { readonly before: number; readonly peak: number; readonly end: number; readonly after: number; readonly settledMs: number | undefined };
  /** When the sockets did not come back: the proxy's TCP sockets by role and state at the end of the watch (max(--after, SETTLE_MS)). */
  readonly held?: string;
  /** Streams that reached the pods while the attack ran, less the normal client's RPCs that succeeded meanwhile. */
  readonly podStreams: number;
  readonly counters: Counters;
  readonly attacker?: AttackerResult;
  readonly error?: string;
  readonly during: Window;
  readonly after: Window;
  /** The normal client's first failure, if any. */
  readonly firstError?: string;
}

interface TransportRun {
  readonly transport: Transport;
  readonly quiet?: Window;
  readonly quietSockets?: number;
  readonly rows: AttackRow[];
  readonly error?: string;
}

class Pods {
  private seq = 0;
  constructor(readonly proc: Started) {}

  async stats(): Promise<PodsStats> {
    const n = ++this.seq;
    const m = waitFor(this.proc, new RegExp(`stats ${n} (\\{.*\\})`));
    this.proc.child.stdin!.write(`stats ${n}\n`);
    return JSON.parse((await m)[1]!) as PodsStats;
  }
}

/** A fresh proxy and pods, the normal client already sending and past its warm-up. */
interface Stack {
  readonly proxy: Started;
  readonly port: number;
  readonly adminUrl: string;
  readonly pods: Pods;
  readonly podPorts: readonly number[];
  readonly client: NormalClient;
}

/**
 * Runs `body` on a fresh stack (pods, proxy, normal client), so that no attack inherits the
 * last one's state (an ejection lasts 30 s and more); everything is stopped afterwards.
 */
async function withStack<R>(opts: Options, transport: Transport, dir: string, body: (s: Stack) => Promise<R>): Promise<R> {
  const podsProc = start(process.execPath, [join(here, "attack-pods.js"), String(PODS)], { core: LOAD_CORE, stdin: true });
  let proxy: Started | undefined;
  let client: NormalClient | undefined;
  try {
    const ports = (await waitFor(podsProc, /pods listening ([\d,]+)/))[1]!.split(",").map(Number);
    const config = join(dir, `sluice-${transport}.yaml`);
    writeFileSync(config, configYaml(transport, ports));
    proxy = start(process.execPath, [join(here, "../src/cli/main.js"), "proxy", "-c", config, "--default-host", "bench"], { core: PROXY_CORE });
    const port = Number((await waitFor(proxy, /sluice proxy listening on 127\.0\.0\.1:(\d+)/))[1]);
    const adminUrl = (await waitFor(proxy, /sluice proxy admin on (http:\/\/\S+)/))[1]!;
    client = new NormalClient(`127.0.0.1:${port}`, opts.rate);
    client.start();
    await sleep(WARMUP_MS);
    return await body({ proxy, port, adminUrl, pods: new Pods(podsProc), podPorts: ports, client });
  } finally {
    if (client !== undefined) await client.stop().catch(() => undefined);
    if (proxy !== undefined) await stop(proxy);
    podsProc.child.stdin!.end();
    await stop(podsProc);
  }
}

async function quietRun(opts: Options, transport: Transport, dir: string): Promise<{ quiet: Window; sockets: number }> {
  return withStack(opts, transport, dir, async ({ proxy, client }) => {
    const from = performance.now();
    await sleep(opts.quietS * 1000);
    const to = performance.now();
    const sockets = socketCount(proxy.pid);
    await client.stop();
    const quiet = windowOf(client.rpcs, from, to);
    console.error(
      `  ${transport} quiet: ${quiet.rpcs} RPCs, ${pctOf(quiet.failRate)} failed, p50 ${f2(quiet.p50Ms)} ms, p99 ${f2(quiet.p99Ms)} ms; proxy sockets ${sockets}`,
    );
    return { quiet, sockets };
  });
}

async function runAttack(opts: Options, transport: Transport, attack: Attack, stack: Stack): Promise<AttackRow> {
  const { proxy, port, adminUrl, pods, podPorts, client } = stack;
  const loadavg = loadavg1();
  const c0 = await counters(adminUrl);
  const s0 = await pods.stats();
  const before = socketCount(proxy.pid);
  const from = performance.now();
  const durationMs = opts.durationS * 1000;
  let peak = before;
  const sampler = setInterval(() => {
    if (proxy.child.exitCode === null) peak = Math.max(peak, socketCount(proxy.pid));
  }, SAMPLE_MS);
  const out = await runAttacker(attack, port, durationMs);
  const end = performance.now();
  clearInterval(sampler);
  const atEnd = socketCount(proxy.pid);
  peak = Math.max(peak, atEnd);
  const s1 = await pods.stats();
  // Watch the sockets come back (to the count before the attack) while the after window passes, and on up to SETTLE_MS.
  let settledMs: number | undefined;
  let after = atEnd;
  for (;;) {
    const now = performance.now();
    const n = socketCount(proxy.pid);
    if (now - end <= opts.afterS * 1000) after = n;
    if (settledMs === undefined && n <= before) settledMs = now - end;
    if (now - end > opts.afterS * 1000 && (settledMs !== undefined || now - end > SETTLE_MS)) break;
    await sleep(100);
  }
  const afterEnd = end + opts.afterS * 1000;
  /** What the proxy still holds beyond the quiet sockets, when it did not let go in time. */
  const held = settledMs === undefined ? socketStates(proxy.pid, port, podPorts) : undefined;
  const c1 = await counters(adminUrl);
  const delta = Object.fromEntries(Object.entries(c1).map(([k, v]) => [k, v - c0[k as keyof Counters]])) as Counters;
  await client.stop(); // every RPC of the windows has its outcome
  let attacker: AttackerResult | undefined;
  let error: string | undefined;
  try {
    attacker = JSON.parse(out.stdout.trim().split("\n").pop() ?? "") as AttackerResult;
  } catch {
    error = `attacker exited ${out.code}: ${out.stderr.slice(-300)}`;
  }
  const normalOk = client.rpcs.filter((r) => r.at >= from && r.at < end && r.code === 0).length;
  const row: AttackRow = {
    transport,
    attack,
    loadavg,
    sockets: { before, peak, end: atEnd, after, settledMs },
    held,
    podStreams: s1.streams - s0.streams - normalOk,
    counters: delta,
    attacker,
    error,
    during: windowOf(client.rpcs, from, end),
    after: windowOf(client.rpcs, end, afterEnd),
    firstError: client.firstError,
  };
  console.error(
    `  ${transport} ${attack}: failed ${pctOf(row.during.failRate)} / ${pctOf(row.after.failRate)}, p50 ${f2(row.during.p50Ms)} / ${f2(row.after.p50Ms)} ms; ` +
      `sockets ${before} -> ${atEnd} (peak ${peak}) -> ${after}${settledMs === undefined ? " (not settled)" : ` (settled ${(settledMs / 1000).toFixed(1)} s)`}, pod streams ${row.podStreams}` +
      (attacker !== undefined ? `; attacker: ${attackerCell(attacker)}; got ${gotCell(attacker)}` : `; ${error}`) +
      (client.firstError !== undefined ? `; normal client's first failure: ${client.firstError}` : ""),
  );
  return row;
}

/** Runs one attacker process to its end (killed DURATION + 30 s in, whatever it does); resolves with its output. */
async function runAttacker(attack: Attack, port: number, durationMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = start(process.execPath, [join(here, "attacker.js"), attack, String(port), String(durationMs)], { core: LOAD_CORE });
  // It stands in for a client on another machine: it must not starve the pods and the normal client of core 0.
  try {
    setPriority(p.pid, 19);
  } catch {
    console.error(`bench: could not lower the ${attack} attacker's priority`);
  }
  const timer = setTimeout(() => p.child.kill("SIGKILL"), durationMs + 30_000);
  const code = await new Promise<number | null>((resolve) => {
    if (p.child.exitCode !== null) resolve(p.child.exitCode);
    else p.child.once("exit", (c) => resolve(c));
  });
  clearTimeout(timer);
  await new Promise((r) => setImmediate(r)); // the pipes' last bytes
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

async function runTransport(opts: Options, transport: Transport, dir: string): Promise<TransportRun> {
  console.error(`bench: ${transport} transport`);
  try {
    const { quiet, sockets } = await quietRun(opts, transport, dir);
    const rows: AttackRow[] = [];
    for (const attack of opts.attacks) rows.push(await withStack(opts, transport, dir, (stack) => runAttack(opts, transport, attack, stack)));
    return { transport, quiet, quietSockets: sockets, rows };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    console.error(`bench: ${transport} failed: ${message}`);
    return { transport, rows: [], error: message.split("\n")[0] ?? message };
  }
}

const f1 = (n: number): string => (Number.isNaN(n) ? "-" : n.toFixed(1));
const f2 = (n: number): string => (Number.isNaN(n) ? "-" : n.toFixed(2));
const pctOf = (share: number): string => `${(100 * share).toFixed(1)}%`;
const x = (a: number, b: number): string => (Number.isNaN(a) || Number.isNaN(b) || b === 0 ? "-" : `${(a / b).toFixed(1)}x`);
const counts = (r: Record<string, number>): string =>
  Object.entries(r)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ") || "none";

/** The issue's bounds for one row: the reasons it is NOT met (none: met). */
function misses(quiet: Window, r: AttackRow): string[] {
  const out: string[] = [];
  for (const [name, w] of [
    ["during", r.during],
    ["after", r.after],
  ] as const) {
    if (w === undefined) continue;
    if (w.failRate > quiet.failRate + FAIL_POINTS) out.push(`${name}: ${pctOf(w.failRate)} failed`);
    if (w.p50Ms > P50_RATIO * quiet.p50Ms) out.push(`${name}: p50 ${x(w.p50Ms, quiet.p50Ms)}`);
  }
  if (r.sockets.settledMs === undefined) out.push(`sockets above ${r.sockets.before} ${SETTLE_MS / 1000} s after`);
  if (r.error !== undefined) out.push(r.error);
  return out;
}

function attackerCell(a: AttackerResult | undefined): string {
  if (a === undefined) return "-";
  const sent = [
    `${a.connections} cx`,
    a.streams > 0 ? `${a.streams} streams` : "",
    a.resets > 0 ? `${a.resets} resets` : "",
    a.frames > 0 ? `${a.frames} frames` : "",
  ].filter((s) => s.length > 0);
  return sent.join(", ");
}

function gotCell(a: AttackerResult | undefined): string {
  if (a === undefined) return "-";
  const parts = [`GOAWAY: ${counts(a.goaways)}`];
  if (Object.keys(a.resetsReceived).length > 0) parts.push(`RST: ${counts(a.resetsReceived)}`);
  if (a.headersReceived > 0) parts.push(`${a.headersReceived} HEADERS`);
  return parts.join("; ");
}

function countersCell(c: Counters): string {
  const parts = [`upstream cx +${c.upstreamCx}`];
  if (c.ejections > 0) parts.push(`ejections +${c.ejections}`);
  if (c.prematureCancelClosed > 0) parts.push(`premature_cancel_closed +${c.prematureCancelClosed}`);
  if (c.cxOverflow > 0) parts.push(`cx overflow +${c.cxOverflow}`);
  return parts.join(", ");
}

function markdown(opts: Options, runs: readonly TransportRun[], command: string): string {
  const m = machineInfo();
  const lines = [
    `## ${new Date().toISOString().replace(/\.\d+Z$/, "Z")} attacks beside a normal client (npm run bench:attacks)`,
    "",
    `Machine: ${m.nproc} x ${m.cpuModel}, Linux ${m.kernel}, Node ${m.node}, load average ${m.loadavg}; commit ${gitCommit()}.`,
    `Command: \`${command}\`.`,
    `Setup: \`sluice proxy\` (pinned to core ${PROXY_CORE}${tasksetAvailable() ? "" : "; taskset missing, not pinned"}) in front of ${PODS} grpc-js echo pods; DestinationRule tcp.maxConnections 2, outlierDetection consecutive5xxErrors 3, interval 1s, baseEjectionTime 30s, maxEjectionPercent 100. ` +
      `A normal grpc-js client sends ${opts.rate} unary RPCs/s (5 s deadline) on one channel throughout; quiet ${opts.quietS} s; each attack on a fresh proxy and pods (no attack inherits another's ejections or sockets), ${WARMUP_MS / 1000} s of the normal client first, then the attack for ${opts.durationS} s (attacker process at nice 19, core ${LOAD_CORE}, with the pods and the client), then ${opts.afterS} s after.`,
    `Bounds (issue 19): the normal client's failure rate within 1 percentage point of quiet and its p50 within 2x of quiet, during and after each attack; the proxy's sockets (/proc/PID/fd: listeners, the normal client's connection, upstream connections) back to their count before the attack within ${SETTLE_MS / 1000} s. ` +
      `"pod streams": streams that reached the pods during the attack (grpc-js channelz counts each as it arrives), less the normal client's RPCs that succeeded meanwhile (so off by the few in flight at either end). Failure codes are gRPC status codes (4 DEADLINE_EXCEEDED, 14 UNAVAILABLE).`,
    "",
  ];
  for (const run of runs) {
    if (run.error !== undefined || run.quiet === undefined) {
      lines.push(`### ${run.transport}: failed: ${run.error ?? "no quiet run"}`, "");
      continue;
    }
    const q = run.quiet;
    lines.push(
      `### transport ${run.transport}`,
      "",
      `Quiet: ${q.rpcs} RPCs, ${pctOf(q.failRate)} failed, p50 ${f2(q.p50Ms)} ms, p99 ${f2(q.p99Ms)} ms; proxy sockets ${run.quietSockets ?? "-"}.`,
      "",
      "| attack | load | failed during / after | p50 ms during (x quiet) / after | p99 ms during (x quiet) | proxy sockets before / end (peak) / after | back in | pod streams | attacker sent | attacker got | proxy counters | bounds |",
      "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|",
    );
    for (const r of run.rows) {
      const d = r.during;
      const a = r.after;
      const miss = misses(q, r);
      const failCodes = d.failed + a.failed > 0 ? ` (codes ${counts({ ...d.codes })}${a.failed > 0 ? ` / ${counts(a.codes)}` : ""})` : "";
      lines.push(
        `| ${r.attack} | ${r.loadavg.toFixed(2)} | ${pctOf(d.failRate)} / ${pctOf(a.failRate)}${failCodes} | ${f2(d.p50Ms)} (${x(d.p50Ms, q.p50Ms)}) / ${f2(a.p50Ms)} (${x(a.p50Ms, q.p50Ms)}) | ${f1(d.p99Ms)} (${x(
          d.p99Ms,
          q.p99Ms,
        )}) | ${r.sockets.before} / ${r.sockets.end} (${r.sockets.peak}) / ${r.sockets.after} | ${r.sockets.settledMs === undefined ? `not in ${SETTLE_MS / 1000} s` : `${(r.sockets.settledMs / 1000).toFixed(1)} s`} | ${r.podStreams} | ${attackerCell(
          r.attacker,
        )} | ${gotCell(r.attacker)} | ${countersCell(r.counters)} | ${miss.length === 0 ? "met" : `NOT met: ${miss.join("; ")}`} |`,
      );
    }
    lines.push("");
    const failures = run.rows.filter((r) => r.firstError !== undefined);
    if (failures.length > 0) lines.push("The normal client's first failure, by attack:", "", ...failures.map((r) => `- ${r.attack}: ${r.firstError}`), "");
    const held = run.rows.filter((r) => r.held !== undefined);
    if (held.length > 0)
      lines.push(
        `The proxy's TCP sockets ${Math.max(opts.afterS, SETTLE_MS / 1000)} s after an attack, where they had not come back:`,
        "",
        ...held.map((r) => `- ${r.attack}: ${r.held}`),
        "",
      );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  killChildrenOnExit();
  // The normal client shares core 0 with the pods and the attacker; the proxy has core 1.
  if (tasksetAvailable()) spawnSync("taskset", ["-pc", String(LOAD_CORE), String(process.pid)], { stdio: "ignore" });
  const dir = mkdtempSync(join(tmpdir(), "sluice-attacks-"));
  const runs: TransportRun[] = [];
  try {
    for (const t of opts.transports) runs.push(await runTransport(opts, t, dir));
  } finally {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const command = `npm run bench:attacks${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const section = markdown(opts, runs, command);
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
