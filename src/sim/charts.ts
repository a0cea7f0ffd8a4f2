// Charts of a run: per-backend load over time (and pinned connections, in the connection
// layers) as Vega-Lite specs, rendered headless to SVG by Vega and to PNG by resvg.
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { SimRun } from "./simulation.js";

export interface Chart {
  /** File name without extension. */
  readonly name: string;
  readonly svg: string;
  readonly png: Buffer;
}

interface Point {
  readonly t: number;
  readonly backend: string;
  readonly value: number;
}

export async function renderCharts(run: SimRun): Promise<Chart[]> {
  const title = `${run.scenario.name}: ${run.layer}, ${run.policy}`;
  const charts: Chart[] = [await render("load", lineChart(points(run, "rpcs"), `${title}: RPCs per second per backend`, "RPCs per second"))];
  if (run.layer === "proxy-connection" || run.layer === "l4") {
    charts.push(await render("connections", lineChart(points(run, "connections"), `${title}: connections pinned per backend`, "connections")));
  }
  return charts;
}

function points(run: SimRun, what: "rpcs" | "connections"): Point[] {
  const { recorder, backends, scenario } = run;
  const w = scenario.bucketMs;
  const buckets = Math.ceil(scenario.durationMs / w);
  const out: Point[] = [];
  for (const b of backends) {
    for (let k = 0; k < buckets; k++) {
      if (b.addedAt > k * w || (b.removedAt !== null && b.removedAt <= k * w)) continue;
      const v = what === "rpcs" ? ((recorder.rpcs[b.index]![k] ?? 0) * 1000) / w : (recorder.connections[b.index]![k] ?? 0);
      out.push({ t: ((k + 1) * w) / 1000, backend: b.name, value: v });
    }
  }
  return out;
}

function lineChart(values: Point[], title: string, yTitle: string): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    width: 720,
    height: 300,
    background: "white",
    data: { values },
    mark: { type: "line", interpolate: "step-before", strokeWidth: 1.5 },
    encoding: {
      x: { field: "t", type: "quantitative", title: "time (s)" },
      y: { field: "value", type: "quantitative", title: yTitle },
      color: { field: "backend", type: "nominal", title: "backend", sort: { field: "backend" } },
    },
  };
}

async function render(name: string, spec: TopLevelSpec): Promise<Chart> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, { background: "white", font: { loadSystemFonts: true } }).render().asPng();
  return { name, svg, png };
}
