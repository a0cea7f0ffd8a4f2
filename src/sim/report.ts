// A run as people read it (a table) and as tools read it (CSV series, JSON summary).
import type { SimRun } from "./simulation.js";
import type { SimSummary } from "./summary.js";

export function formatSummary(s: SimSummary, wallMs: number): string {
  const lines: string[] = [];
  const cycling =
    s.layer !== "proxy-connection"
      ? `maxRequestsPerConnection ${s.maxRequestsPerConnection > 0 ? s.maxRequestsPerConnection : "unset"} (no effect on where RPCs go in this layer)`
      : s.maxRequestsPerConnection > 0
        ? `maxRequestsPerConnection ${s.maxRequestsPerConnection}`
        : "no maxRequestsPerConnection";
  lines.push(`scenario ${s.scenario}: layer ${s.layer}, ${s.policy}, ${cycling}`);
  lines.push(
    `${seconds(s.durationMs)} simulated in ${seconds(wallMs)} (${s.events.toLocaleString("en-US")} events); ` +
      `measured from ${seconds(s.measureFromMs)}: ${s.rpcs.toLocaleString("en-US")} RPCs`,
  );
  lines.push("");
  const header = ["backend", "up", "RPCs", "share", "RPC/s", "p50 ms", "p99 ms", "conns", "to 90% fair"];
  const rows = s.backends.map((b) => [
    b.name,
    `${seconds(b.addedAtMs)}-${b.removedAtMs === null ? "" : seconds(b.removedAtMs)}`,
    b.rpcs.toLocaleString("en-US"),
    `${(100 * b.share).toFixed(1)}%`,
    b.ratePerS.toFixed(0),
    num(b.p50Ms),
    num(b.p99Ms),
    String(b.connections),
    b.timeTo90Ms === undefined ? "-" : b.timeTo90Ms === null ? "never" : seconds(b.timeTo90Ms),
  ]);
  lines.push(...table([header, ...rows]));
  lines.push("");
  lines.push(
    `max/mean ${num(s.maxOverMean, 2)}   CV ${num(s.cv, 3)}   p50 ${num(s.p50Ms)} ms   p99 ${num(s.p99Ms)} ms   ` +
      `failed ${s.failed.toLocaleString("en-US")} (${s.rpcs > 0 ? ((100 * s.failed) / s.rpcs).toFixed(2) : "0.00"}%)`,
  );
  for (const [why, n] of Object.entries(s.failures)) lines.push(`  ${n.toLocaleString("en-US")} ${why}`);
  if (s.failed > 0 && s.layer.startsWith("proxy-")) {
    lines.push("  (retries are not simulated: the proxy's retry policy, Istio's default included, would send many of these to another backend)");
  }
  if (s.unfinished > 0) {
    lines.push(
      `unfinished: ${s.unfinished.toLocaleString("en-US")} RPCs were still queued or running 60 s after the run ended; they are in no count and no percentile (the backends are overloaded)`,
    );
  }
  if (s.layer === "proxy-connection" || s.layer === "l4") lines.push(`client connections opened: ${num(s.connectionsPerS)} per second`);
  if (s.timeToBalanceMs !== undefined) {
    lines.push(`time to balance (the slowest new backend to 90% of its fair share): ${s.timeToBalanceMs === null ? "never" : seconds(s.timeToBalanceMs)}`);
  }
  return lines.join("\n");
}

/** One row per bucket and backend: time, RPCs per second, share of the bucket, connections. */
export function seriesCsv(run: SimRun): string {
  const { recorder, backends, scenario } = run;
  const w = scenario.bucketMs;
  const buckets = Math.ceil(scenario.durationMs / w);
  const out = ["t_s,backend,rpc_per_s,share,connections"];
  for (let k = 0; k < buckets; k++) {
    let sum = 0;
    for (const b of backends) sum += recorder.rpcs[b.index]![k] ?? 0;
    for (const b of backends) {
      if (b.addedAt > k * w || (b.removedAt !== null && b.removedAt <= k * w)) continue;
      const n = recorder.rpcs[b.index]![k] ?? 0;
      const conns = recorder.connections[b.index]![k] ?? 0;
      out.push(`${((k + 1) * w) / 1000},${b.name},${(n * 1000) / w},${sum > 0 ? (n / sum).toFixed(4) : "0"},${conns}`);
    }
  }
  return out.join("\n") + "\n";
}

/** The per-backend table as CSV. */
export function summaryCsv(s: SimSummary): string {
  const out = ["backend,added_s,removed_s,rpcs,share,rpc_per_s,p50_ms,p99_ms,connections,time_to_90_s"];
  for (const b of s.backends) {
    const t90 = b.timeTo90Ms === undefined ? "" : b.timeTo90Ms === null ? "never" : String(b.timeTo90Ms / 1000);
    out.push(
      [
        b.name,
        b.addedAtMs / 1000,
        b.removedAtMs === null ? "" : b.removedAtMs / 1000,
        b.rpcs,
        b.share.toFixed(4),
        b.ratePerS.toFixed(1),
        csvNum(b.p50Ms),
        csvNum(b.p99Ms),
        b.connections,
        t90,
      ].join(","),
    );
  }
  return out.join("\n") + "\n";
}

function csvNum(n: number): string {
  return Number.isNaN(n) ? "" : n.toFixed(3);
}

function num(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

function seconds(ms: number): string {
  if (ms >= 3_600_000 && ms % 60_000 === 0) return `${ms / 3_600_000}h`.replace(/\.(\d{2})\d+h$/, ".$1h");
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(ms < 1000 ? 3 : 1)}s`;
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    r
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join("  ")
      .trimEnd(),
  );
}
