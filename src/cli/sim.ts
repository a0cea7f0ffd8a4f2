// `sluice sim [-c config.yaml ...] --scenario NAME|FILE [--layer L] [--out DIR]`: runs a
// scenario on the virtual clock with the config's traffic policy (examples/seed.yaml's
// DestinationRule without -c) and prints how the load spread; --out writes the series as CSV
// and charts as SVG and PNG.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SingleBar } from "cli-progress";
import { formatProblem } from "../config/diagnostics.js";
import { formatError } from "../core/errors.js";
import { loadConfigFilesReport, loadConfigText } from "../config/load.js";
import type { Cluster, LoadResult, ProxyConfig } from "../config/types.js";
import { formatSummary, seriesCsv, summaryCsv } from "../sim/report.js";
import type { ClientPolicy, Layer, Scenario } from "../sim/scenario.js";
import { resolveScenario, ScenarioError } from "../sim/scenario-file.js";
import { simulate } from "../sim/simulation.js";
import { summarize } from "../sim/summary.js";
import { SEED_CONFIG } from "./seed-config.js";
import type { Io } from "./io.js";

export interface SimCommandOptions {
  readonly config: readonly string[];
  readonly scenario: string;
  readonly layer?: Layer;
  readonly clientPolicy?: ClientPolicy;
  readonly host?: string;
  readonly out?: string;
  readonly seed?: number;
  readonly format: "text" | "json";
  /** Draw a progress bar on stderr (a terminal, and a long run). */
  readonly progress: boolean;
}

/** Runs longer than this (simulated) get a progress bar. */
const PROGRESS_FROM_MS = 5 * 60_000;

export async function simCommand(opts: SimCommandOptions, io: Io): Promise<number> {
  let scenario: Scenario;
  try {
    scenario = await resolveScenario(opts.scenario);
  } catch (err) {
    if (!(err instanceof ScenarioError)) throw err;
    io.err(formatError(err));
    return 1;
  }
  if (opts.seed !== undefined) scenario = { ...scenario, seed: opts.seed };
  if (opts.clientPolicy !== undefined) {
    // main.ts refused it beside another --layer; here the scenario's own layer is known.
    if ((opts.layer ?? scenario.layer) !== "client") {
      io.err(`sluice sim: --client-policy only applies with --layer client (scenario ${scenario.name} runs on layer ${scenario.layer})`);
      return 1;
    }
    scenario = { ...scenario, clientPolicy: opts.clientPolicy };
  }
  const loaded = await loadConfig(opts.config);
  if (!loaded.ok) {
    for (const p of loaded.problems) io.err(formatProblem(p));
    io.err(`sluice sim: the config has ${loaded.problems.length} problem(s)`);
    return 1;
  }
  const cluster = chooseCluster(loaded.config, opts.host);
  if (typeof cluster === "string") {
    io.err(`sluice sim: ${cluster}`);
    return 1;
  }
  const lb = cluster.policy.loadBalancer;
  if (lb.kind === "simple" && lb.policy === "PASSTHROUGH") {
    io.err(`sluice sim: ${cluster.host} uses PASSTHROUGH (each RPC goes to the address in :authority): there is no balancing to simulate`);
    return 1;
  }
  const layer = opts.layer ?? scenario.layer;
  const mode = loaded.config.listener.mode;
  if (opts.config.length > 0 && opts.layer === undefined && layer.startsWith("proxy-") && layer !== `proxy-${mode}`) {
    io.err(`note: the config's proxy runs in ${mode} mode; simulating ${layer}, scenario ${scenario.name}'s layer (--layer proxy-${mode} simulates your mode)`);
  }
  const bar =
    opts.progress && scenario.durationMs >= PROGRESS_FROM_MS
      ? new SingleBar({ format: "simulating [{bar}] {percentage}% | ETA {eta}s", hideCursor: true, clearOnComplete: true })
      : null;
  bar?.start(1000, 0);
  const t0 = performance.now();
  let run;
  try {
    run = simulate({ scenario, config: loaded.config, cluster, layer, onProgress: (f) => bar?.update(Math.round(f * 1000)) });
  } catch (err) {
    bar?.stop();
    io.err(`sluice sim: scenario ${scenario.name}: ${formatError(err)}`);
    return 1;
  }
  bar?.stop();
  const wallMs = performance.now() - t0;
  const summary = summarize(run);
  if (opts.format === "json") io.out(JSON.stringify({ ...summary, wallMs: Math.round(wallMs) }, jsonSafe, 2));
  else io.out(formatSummary(summary, wallMs));
  if (opts.out !== undefined) {
    // Loaded on use: Vega and resvg cost the other commands nothing.
    const { renderCharts } = await import("../sim/charts.js");
    const files: [string, string | Buffer][] = [
      ["series.csv", seriesCsv(run)],
      ["summary.csv", summaryCsv(summary)],
      ["summary.json", JSON.stringify(summary, jsonSafe, 2) + "\n"],
    ];
    for (const c of await renderCharts(run)) files.push([`${c.name}.svg`, c.svg], [`${c.name}.png`, c.png]);
    try {
      await mkdir(opts.out, { recursive: true });
      for (const [name, data] of files) await writeFile(join(opts.out, name), data);
    } catch (err) {
      io.err(`sluice sim: cannot write ${opts.out}: ${(err as Error).message}`);
      return 1;
    }
    const wrote = `wrote ${files.map(([n]) => join(opts.out!, n)).join(", ")}`;
    // JSON on stdout stays one document.
    if (opts.format === "json") io.err(wrote);
    else io.out(wrote);
  }
  return 0;
}

async function loadConfig(files: readonly string[]): Promise<LoadResult> {
  if (files.length > 0) return (await loadConfigFilesReport(files)).result;
  return loadConfigText(await readFile(SEED_CONFIG, "utf8"), SEED_CONFIG);
}

/** The cluster of `host` (its first port, no subset), or of the config's only host; else why not. */
function chooseCluster(config: ProxyConfig, host: string | undefined): Cluster | string {
  const clusters = [...config.clusters.values()].filter((c) => c.subset === null);
  const hosts = [...new Set(clusters.map((c) => c.host))];
  if (host === undefined) {
    if (hosts.length === 1) return clusters[0]!;
    if (hosts.length === 0) return "the config has no service (a ServiceEntry) to simulate";
    return `the config has several services (${hosts.join(", ")}): choose one with --host`;
  }
  const match = clusters.find((c) => c.host === host);
  return match ?? `no service ${host} in the config (there are: ${hosts.join(", ")})`;
}

/** NaN and Infinity as null (JSON has neither). */
function jsonSafe(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? null : value;
}
