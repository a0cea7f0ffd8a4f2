// `sluice demo`: N local backend pods, the proxy loaded with examples/seed.yaml (its
// ServiceEntry pointed at the pods started here), and M clients that each hold ONE
// long-lived channel, as gRPC clients do. Request mode runs until stopped and prints a
// per-pod table every second; connection mode replays how connection cycling spreads
// pinned connections (demo-story.ts).
import { readFile } from "node:fs/promises";
import * as grpc from "@grpc/grpc-js";
import { parseAllDocuments } from "yaml";
import { formatProblem } from "../config/diagnostics.js";
import { loadConfigFilesReport, loadConfigText } from "../config/load.js";
import { logger } from "../core/trace.js";
import { callUnary, echoClient } from "../demo/echo-client.js";
import { startEchoServer, type PodStats } from "../demo/echo-service.js";
import { FAILING_POD_AFTER_MS, failingPodOptions } from "../demo/failing-pod.js";
import type { ProxyConfig } from "../config/types.js";
import { observedProxy } from "../admin/observability.js";
import { connectionStory, type DemoPod } from "./demo-story.js";
import { FailureTally, watchEjections } from "./demo-outcomes.js";
import { dashboardLine } from "../runtime/admin-start.js";
import { announce } from "../runtime/events.js";
import type { Io } from "./io.js";

export interface DemoOptions {
  readonly mode: "request" | "connection";
  readonly pods: number;
  readonly clients: number;
  /** Request mode: ms; undefined = until SIGINT/SIGTERM. (The story runs to its end.) */
  readonly duration?: number;
  readonly config?: string;
  /** Request mode: the last N pods answer UNAVAILABLE to every call from 5 s in (demo/failing-pod.ts). */
  readonly failingPods?: number;
}

/** RPCs each client keeps in flight on its one channel (request mode). */
const IN_FLIGHT_PER_CLIENT = 4;

export { SEED_CONFIG } from "./seed-config.js";
import { SEED_CONFIG } from "./seed-config.js";

/**
 * The seed config with its ServiceEntry endpoints replaced by the demo's pods, listening on
 * any free port in `mode` (a Proxy resource is added when the config has none).
 */
export function pointAtPods(text: string, ports: readonly number[], mode: string): string {
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, unknown>);
  if (!docs.some((d) => d["kind"] === "Proxy")) {
    docs.push({ apiVersion: "sluice.dev/v1alpha1", kind: "Proxy", metadata: { name: "sluice-demo" }, spec: {} });
  }
  const out: Record<string, unknown>[] = [];
  for (const doc of docs) {
    if (doc["kind"] === "ServiceEntry") {
      const spec = doc["spec"] as Record<string, unknown>;
      const portName = (spec["ports"] as { name: string }[] | undefined)?.[0]?.name ?? "grpc";
      spec["resolution"] = "STATIC";
      spec["endpoints"] = ports.map((p, i) => ({ address: "127.0.0.1", ports: { [portName]: p }, labels: { pod: `pod-${i + 1}` } }));
    }
    if (doc["kind"] === "Proxy") {
      const spec = (doc["spec"] ?? {}) as Record<string, unknown>;
      spec["listen"] = "127.0.0.1:0";
      // The admin server (metrics, /clusters, the dashboard) on a free port unless the config names one.
      spec["admin"] ??= "127.0.0.1:0";
      spec["mode"] = mode;
      doc["spec"] = spec;
    }
    out.push(doc);
  }
  return out.map((d) => JSON.stringify(d)).join("\n---\n");
}

/** The flags, parsed and checked (main.ts: --failing-pods and --duration only in request mode, at most --pods failing). */
export async function demoCommand(opts: DemoOptions, io: Io): Promise<number> {
  const file = opts.config ?? SEED_CONFIG;
  const failing = opts.mode === "request" ? (opts.failingPods ?? 0) : 0;
  // The file as it was given, before the demo points it at its pods: its own line numbers in
  // every problem, and nothing started for a config that cannot run.
  const given = (await loadConfigFilesReport([file])).result;
  if (!given.ok) {
    for (const w of given.warnings) io.err(`warning: ${formatProblem(w)}`);
    for (const p of given.problems) io.err(formatProblem(p));
    return 1;
  }
  for (const w of given.config.warnings)
    announce(io, {
      level: "warn",
      event: "config warning",
      fields: { file: w.file, line: w.line, path: w.path, warning: w.message },
      line: `warning: ${formatProblem(w)}`,
    });
  const pods = await Promise.all(
    Array.from({ length: opts.pods }, (_, i) => startEchoServer(`pod-${i + 1}`, "127.0.0.1", 0, i >= opts.pods - failing ? failingPodOptions() : {})),
  );
  const text = pointAtPods(
    await readFile(file, "utf8"),
    pods.map((p) => p.port),
    opts.mode,
  );
  const loaded = loadConfigText(text, file);
  if (!loaded.ok) {
    // Valid as given, not once pointed at the pods: the demo's own doing, said as such (the lines are the rewritten text's).
    for (const p of loaded.problems) io.err(`sluice demo: ${file} with the demo's pods and listener: ${p.path === "" ? "" : `${p.path}: `}${p.message}`);
    await Promise.all(pods.map((p) => p.stop()));
    return 1;
  }
  // People read the demo's own lines and table: the log says warnings and errors only, unless SLUICE_LOG_LEVEL asks for more.
  if (process.env["SLUICE_LOG_LEVEL"] === undefined) logger.level = "warn";
  const banner = (target: string): void =>
    io.out(
      `sluice demo: ${opts.pods} pods${failing > 0 ? ` (${failing} failing from ${FAILING_POD_AFTER_MS / 1000} s in)` : ""}, ${opts.clients} clients (one channel each), proxy on ${target}, mode ${opts.mode}, config ${file}`,
    );
  try {
    if (opts.mode === "connection") return await connectionStory(loaded.config, pods, opts.clients, banner, io);
    return await requestLoad(loaded.config, pods, opts, banner, io);
  } finally {
    await Promise.all(pods.map((p) => p.stop()));
  }
}

/** Request mode: every client keeps RPCs in flight until the duration or a signal; a table every second. */
async function requestLoad(config: ProxyConfig, pods: readonly DemoPod[], opts: DemoOptions, banner: (target: string) => void, io: Io): Promise<number> {
  const { proxy, observability } = observedProxy(config);
  const admin = await observability.startAdmin();
  const addr = await proxy.start();
  const target = `127.0.0.1:${addr.port}`;
  banner(target);
  if (admin !== undefined) io.out(dashboardLine(admin));

  const authority = [...config.clusters.values()][0]?.host ?? "grpc-service";
  const podByKey = new Map(pods.map((p) => [`127.0.0.1:${p.port}`, p.stats.name]));
  const ejections = watchEjections(proxy, (key) => podByKey.get(key) ?? key, io);
  const clients = Array.from({ length: opts.clients }, () => echoClient(target, { "grpc.default_authority": authority }));
  let running = true;
  const failures = new FailureTally();
  const loops: Promise<void>[] = [];
  for (const client of clients) {
    for (let i = 0; i < IN_FLIGHT_PER_CLIENT; i++)
      loops.push(
        clientLoop(
          client,
          () => running,
          (code, details) => failures.add(code, details),
        ),
      );
  }

  const table = new PodTable(pods.map((p) => p.stats));
  const ticker = setInterval(() => io.out(table.render(failures.total)), 1000);

  await new Promise<void>((done) => {
    const stop = (): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      done();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    if (opts.duration !== undefined) setTimeout(stop, opts.duration).unref();
  });

  clearInterval(ticker);
  running = false;
  await Promise.all(loops);
  ejections.stop();
  io.out(table.render(failures.total));
  for (const c of clients) c.close();
  await proxy.stop(2000);
  await observability.stop();
  io.out("sluice demo: stopped");
  for (const line of failures.summary(describeRetries(config, authority))) io.out(line);
  // The failures --failing-pods provoked are the demo working; any other is not.
  return failures.unexpected === 0 ? 0 : 1;
}

/** "the first and up to 2 retries", from the route the demo's clients take. */
function describeRetries(config: ProxyConfig, authority: string): string {
  const attempts = config.virtualHosts.find((v) => v.domains.includes(authority))?.routes[0]?.retry.attempts ?? 0;
  return attempts === 0 ? "no retries" : `the first and up to ${attempts} ${attempts === 1 ? "retry" : "retries"}`;
}

async function clientLoop(client: grpc.Client, running: () => boolean, onFailure: (code: number, details: string) => void): Promise<void> {
  const payload = Buffer.from("hello from a long-lived channel");
  while (running()) {
    // Each RPC takes the pod 0-20 ms of "work", so requests overlap and "active" means something.
    const work = new grpc.Metadata();
    work.set("x-echo-delay-ms", String(Math.floor(Math.random() * 21)));
    const r = await callUnary(client, payload, work, { deadline: Date.now() + 10_000 });
    if (r.code !== 0) onFailure(r.code, r.details);
  }
}

class PodTable {
  private last: number[];
  private lastAt = Date.now();

  constructor(private readonly pods: readonly PodStats[]) {
    this.last = pods.map((p) => p.rpcs);
  }

  render(failures: number): string {
    const now = Date.now();
    const secs = Math.max(0.001, (now - this.lastAt) / 1000);
    const deltas = this.pods.map((p, i) => p.rpcs - (this.last[i] ?? 0));
    const total = deltas.reduce((a, b) => a + b, 0);
    this.last = this.pods.map((p) => p.rpcs);
    this.lastAt = now;
    const rows = this.pods.map((p, i) => {
      const d = deltas[i] ?? 0;
      const share = total > 0 ? (100 * d) / total : 0;
      return `${p.name.padEnd(8)} ${(d / secs).toFixed(0).padStart(7)} ${share.toFixed(1).padStart(6)}% ${String(p.active).padStart(6)} ${String(p.rpcs).padStart(9)}`;
    });
    return [`pod          rps   share active     total   (failed RPCs: ${failures})`, ...rows, ""].join("\n");
  }
}
