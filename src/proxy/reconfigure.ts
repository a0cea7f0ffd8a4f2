// A config reload, planned: what changed between the running config and a new, valid one,
// and the config the proxy runs with afterwards. Listener settings bound to the open socket
// or to connections already accepted cannot change live: they keep their running values and
// are reported as needing a restart. Everything else applies to new RPCs (routes, clusters,
// policies, pool limits) while connections and RPCs in flight carry on.
import { isDeepStrictEqual } from "node:util";
import type { Cluster, ListenerSettings, ProxyConfig } from "../config/types.js";

/** What changed in a cluster that a reload kept. */
export type ClusterChange = "endpoints" | "resolution" | "loadBalancer" | "connectionPool" | "outlierDetection" | "retryBudget" | "tls";

export interface ReloadPlan {
  /** The config to run: the new one, with the restart-only listener settings kept. */
  readonly config: ProxyConfig;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Kept clusters whose settings changed, with what changed. */
  readonly changed: ReadonlyMap<string, readonly ClusterChange[]>;
  readonly routesChanged: boolean;
  /** Listener settings applied live (defaultHost, upstream keepalive, choice count, drain timeout, retry buffer, access log, imbalance warning). */
  readonly listenerChanged: readonly string[];
  /** Listener settings that differ but wait for a restart: `field: running -> wanted`. */
  readonly needsRestart: readonly string[];
}

/**
 * Listener fields that only a restart applies: the socket, the wire, per-connection lifetime,
 * and the health checkers and latency rule built with the clusters at start.
 */
const RESTART_ONLY = [
  "listen",
  "tls",
  "workloadCertificates",
  "transport",
  "mode",
  "admin",
  "downstream",
  "healthCheck",
  "latencyOutlier",
] as const satisfies readonly (keyof ListenerSettings)[];

/** Listener fields a reload applies to new RPCs. */
const LIVE = [
  "defaultHost",
  "upstream",
  "leastRequestChoiceCount",
  "drainTimeoutMs",
  "retryBufferLimit",
  "retryBufferBudget",
  "accessLog",
  "imbalanceWarning",
] as const satisfies readonly (keyof ListenerSettings)[];

/** What a restart-only field is compared by: the admin address by where it is, not by who chose it. */
function restartKey(l: ListenerSettings, field: (typeof RESTART_ONLY)[number]): unknown {
  if (field === "admin") return l.admin === null ? null : { host: l.admin.host, port: l.admin.port };
  return l[field];
}

export function planReload(running: ProxyConfig, next: ProxyConfig): ReloadPlan {
  const needsRestart: string[] = [];
  const kept: Record<string, unknown> = {};
  for (const field of RESTART_ONLY) {
    if (isDeepStrictEqual(restartKey(running.listener, field), restartKey(next.listener, field))) continue;
    needsRestart.push(`${field}: ${show(running.listener[field])} -> ${show(next.listener[field])}`);
    kept[field] = running.listener[field];
  }
  const listener: ListenerSettings = { ...next.listener, ...kept };
  const listenerChanged = LIVE.filter((f) => !isDeepStrictEqual(running.listener[f], listener[f]));

  const added = [...next.clusters.keys()].filter((name) => !running.clusters.has(name));
  const removed = [...running.clusters.keys()].filter((name) => !next.clusters.has(name));
  const changed = new Map<string, ClusterChange[]>();
  for (const [name, cluster] of next.clusters) {
    const old = running.clusters.get(name);
    if (old === undefined) continue;
    const what = clusterChanges(old, cluster);
    if (what.length > 0) changed.set(name, what);
  }
  return {
    config: { ...next, listener },
    added,
    removed,
    changed,
    routesChanged: !isDeepStrictEqual(running.virtualHosts, next.virtualHosts),
    listenerChanged,
    needsRestart,
  };
}

export function clusterChanges(old: Cluster, next: Cluster): ClusterChange[] {
  const what: ClusterChange[] = [];
  if (old.resolution !== next.resolution) what.push("resolution");
  if (!isDeepStrictEqual(old.endpoints, next.endpoints)) what.push("endpoints");
  if (!isDeepStrictEqual(old.policy.loadBalancer, next.policy.loadBalancer)) what.push("loadBalancer");
  if (!isDeepStrictEqual(old.policy.connectionPool, next.policy.connectionPool)) what.push("connectionPool");
  if (!isDeepStrictEqual(old.policy.outlierDetection, next.policy.outlierDetection)) what.push("outlierDetection");
  if (!isDeepStrictEqual(old.policy.retryBudget, next.policy.retryBudget)) what.push("retryBudget");
  if (!isDeepStrictEqual(old.policy.tls, next.policy.tls)) what.push("tls");
  return what;
}

/** Whether a kept cluster needs a new endpoint source (the endpoints or how they resolve changed). */
export function needsNewSource(what: readonly ClusterChange[]): boolean {
  return what.includes("endpoints") || what.includes("resolution");
}

/** Whether the plan changes anything at all. */
export function isNoop(plan: ReloadPlan): boolean {
  return (
    plan.added.length === 0 &&
    plan.removed.length === 0 &&
    plan.changed.size === 0 &&
    !plan.routesChanged &&
    plan.listenerChanged.length === 0 &&
    plan.needsRestart.length === 0
  );
}

/** One line for operators: `clusters +a -b ~c(endpoints,loadBalancer); routes changed`. */
export function describeReload(plan: ReloadPlan): string {
  if (isNoop(plan)) return "no changes";
  const parts: string[] = [];
  const clusters = [
    ...plan.added.map((n) => `+${n}`),
    ...plan.removed.map((n) => `-${n}`),
    ...[...plan.changed].map(([n, what]) => `~${n}(${what.join(",")})`),
  ];
  if (clusters.length > 0) parts.push(`clusters ${clusters.join(" ")}`);
  if (plan.routesChanged) parts.push("routes changed");
  if (plan.listenerChanged.length > 0) parts.push(`listener ${plan.listenerChanged.join(",")}`);
  if (plan.needsRestart.length > 0) parts.push(`needs a restart (not applied): ${plan.needsRestart.join("; ")}`);
  return parts.join("; ");
}

function show(value: unknown): string {
  if (value !== null && typeof value === "object" && "host" in value && "port" in value) return `${String(value.host)}:${String(value.port)}`;
  return JSON.stringify(value) ?? "null";
}
