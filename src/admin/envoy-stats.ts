// The admin server's /stats: the counters and gauges of /metrics (metrics.ts's table) as
// Envoy's admin server lists its stats, one `name: value` line each, sorted by name, so the
// habits of Envoy and Istio users carry over (`curl :15000/stats | grep upstream_rq`).
//
// Names are Envoy's own where /metrics took them from Envoy: its Prometheus exporter turns
// `cluster.<name>.upstream_rq_total` into `envoy_cluster_upstream_rq_total{cluster_name}`,
// and this turns it back. A per-endpoint series is summed into its cluster's stat, as
// Envoy's cluster stats count every host (the hosts are on /clusters). The one HTTP
// connection manager's stats take the prefix "sluice" (`http.sluice.downstream_cx_active`).
// Istio's and sluice's own metrics are named as Envoy names Istio's tagged metrics:
// `tag=.=value;.;` for each label, then the metric's name. Histograms are on /metrics only.
import { METRICS, type MetricsSource } from "./metrics.js";

export interface EnvoyStat {
  readonly name: string;
  readonly value: number;
}

/** Every counter and gauge, by its Envoy name, sorted by name. */
export function envoyStats(src: MetricsSource): EnvoyStat[] {
  const stats = new Map<string, number>();
  for (const row of METRICS) {
    const clusterStat = row.name.startsWith("envoy_cluster_") && row.labels.includes("cluster_name") ? envoyClusterStat(row.name) : undefined;
    // A cluster's stat is there even when it has no endpoints to sum over (0, as Envoy shows it).
    if (clusterStat !== undefined) for (const c of src.proxy.clusterRuntimes()) stats.set(`cluster.${c.name}.${clusterStat}`, 0);
    row.collect((labels, value) => {
      const name = clusterStat !== undefined ? `cluster.${labels["cluster_name"] ?? ""}.${clusterStat}` : otherName(row.name, labels);
      stats.set(name, clusterStat !== undefined ? (stats.get(name) ?? 0) + value : value);
    }, src);
  }
  return [...stats].map(([name, value]) => ({ name, value })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** `name: value` lines, as Envoy's GET /stats prints them. */
export function formatEnvoyStats(stats: readonly EnvoyStat[]): string {
  return stats.map((s) => `${s.name}: ${s.value}\n`).join("");
}

/** Envoy's stat name inside `cluster.<name>.`, from its Prometheus name (dots became underscores there). */
function envoyClusterStat(prometheusName: string): string {
  const stat = prometheusName.slice("envoy_cluster_".length);
  // Envoy's outlier detection stats sit one level down: cluster.<name>.outlier_detection.ejections_active.
  return stat.startsWith("outlier_detection_") ? `outlier_detection.${stat.slice("outlier_detection_".length)}` : stat;
}

function otherName(prometheusName: string, labels: Readonly<Record<string, string>>): string {
  if (prometheusName.startsWith("envoy_http_") && Object.keys(labels).length === 0) return `http.sluice.${prometheusName.slice("envoy_http_".length)}`;
  const tags = Object.entries(labels).map(([k, v]) => `${k}=.=${v};.;`);
  return `${tags.join("")}${prometheusName}`;
}
