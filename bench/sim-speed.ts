// `npm run bench:sim`: how fast the simulator runs. The target: one simulated hour
// of 3 clients x 1,000 RPS finishes in under 30 s on this machine. For each balancing layer,
// the scale-out scenario stretched to an hour (a 4th pod added at 20 s) runs with
// examples/seed.yaml's DestinationRule; wall time, events per second and peak RSS are recorded.
//
//   npm run bench:sim -- [--hours 1] [--no-write]
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { SEED_CONFIG } from "../src/cli/seed-config.js";
import { loadConfigText } from "../src/config/load.js";
import { LAYERS, type Layer } from "../src/sim/scenario.js";
import { SCENARIOS } from "../src/sim/scenarios.js";
import { simulate } from "../src/sim/simulation.js";
import { summarize } from "../src/sim/summary.js";
import { appendSection, gitCommit, machineInfo, resultsFile } from "./report.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const TARGET_S = 30;

interface Row {
  readonly layer: Layer;
  readonly wallS: number;
  readonly rpcs: number;
  readonly events: number;
  readonly rssMb: number;
}

function main(): void {
  const args = process.argv.slice(2);
  const hoursAt = args.indexOf("--hours");
  const hours = hoursAt >= 0 ? Number(args[hoursAt + 1]) : 1;
  const write = !args.includes("--no-write");
  const loaded = loadConfigText(readFileSync(SEED_CONFIG, "utf8"), SEED_CONFIG);
  if (!loaded.ok) throw new Error("examples/seed.yaml does not load");
  const cluster = [...loaded.config.clusters.values()][0]!;
  const scenario = { ...SCENARIOS["scale-out"]!, durationMs: hours * 3_600_000 };
  const rows: Row[] = [];
  for (const layer of LAYERS) {
    global.gc?.();
    let peak = process.memoryUsage().rss;
    const t0 = performance.now();
    const run = simulate({ scenario, config: loaded.config, cluster, layer, onProgress: () => (peak = Math.max(peak, process.memoryUsage().rss)) });
    const wallS = (performance.now() - t0) / 1000;
    const s = summarize(run);
    rows.push({ layer, wallS, rpcs: s.rpcs, events: run.events, rssMb: peak / 1048576 });
    console.log(
      `${layer}: ${wallS.toFixed(1)} s for ${s.rpcs.toLocaleString("en-US")} RPCs (${(run.events / wallS / 1e6).toFixed(2)} M events/s), peak RSS ${(peak / 1048576).toFixed(0)} MB`,
    );
  }
  const m = machineInfo();
  const lines = [
    `## ${new Date().toISOString().replace(/\.\d+Z$/, "Z")} simulator speed (npm run bench:sim)`,
    "",
    `Machine: ${m.nproc} x ${m.cpuModel}, Linux ${m.kernel}, Node ${m.node}, load average ${m.loadavg}; commit ${gitCommit()}.`,
    `Scenario: scale-out stretched to ${hours} simulated hour(s): 3 clients x 4 channels x 1,000 RPS (Poisson), 3 pods then 4, lognormal service time (median 4 ms, p99 20 ms), examples/seed.yaml's DestinationRule.`,
    `Target: ${hours} simulated hour(s) in under ${TARGET_S * hours} s. There is no baseline to run beside it: the figure is wall time on this machine.`,
    "",
    "| layer | wall s | RPCs | events | M events/s | peak RSS MB | target |",
    "|---|---:|---:|---:|---:|---:|---|",
    ...rows.map(
      (r) =>
        `| ${r.layer} | ${r.wallS.toFixed(1)} | ${r.rpcs.toLocaleString("en-US")} | ${r.events.toLocaleString("en-US")} | ${(r.events / r.wallS / 1e6).toFixed(2)} | ${r.rssMb.toFixed(0)} | ${r.wallS < TARGET_S * hours ? "met" : "NOT met"} |`,
    ),
    "",
  ];
  const text = lines.join("\n");
  console.log(`\n${text}`);
  if (write) appendSection(resultsFile(join(here, "../..")), text);
}

main();
