// Where a cluster's setting is written. The loaded ProxyConfig holds merged, defaulted values
// without their origin, so the analyzer reads the YAML trees again and follows Istio's merge
// (src/config/traffic-policy.ts mergePolicy) to the map each cluster's part comes from:
// the subset's portLevelSettings entry, else the subset's trafficPolicy (if it sets the
// part), else the DestinationRule's portLevelSettings entry, else its trafficPolicy.
import { Diagnostics } from "../config/diagnostics.js";
import { resolveHost } from "../config/hosts.js";
import type { ConfigSource } from "../config/load.js";
import type { Cluster } from "../config/types.js";
import { parseYamlDocuments, type YNode } from "../config/yaml-tree.js";

/** The parts of a traffic policy that Istio replaces wholesale. */
export type PolicyPart = "loadBalancer" | "connectionPool" | "outlierDetection";

export interface FieldLocation {
  readonly file: string;
  readonly line: number;
  /** The field's full path when it is written; else the path of the closest enclosing map. */
  readonly path: string;
  /** Whether the field itself is written (false: the value is a default). */
  readonly set: boolean;
  /**
   * Path of the map the field belongs in (e.g. `spec.subsets[1].trafficPolicy`), for a fix;
   * null when the host has no DestinationRule at all.
   */
  readonly holder: string | null;
  /** The DestinationRule's metadata.name, if any. */
  readonly resource: string | null;
}

export interface YamlResource {
  readonly file: string;
  readonly kind: string;
  readonly name: string | null;
  readonly line: number;
  readonly root: YNode;
}

export class Locator {
  private constructor(
    readonly resources: readonly YamlResource[],
    private readonly hosts: readonly string[],
  ) {}

  /**
   * The sources must be the ones the config was loaded from (and loaded without problems);
   * `hosts` are the ServiceEntry hosts, which DestinationRule hosts are resolved against.
   */
  static fromSources(sources: readonly ConfigSource[], hosts: readonly string[]): Locator {
    const diag = new Diagnostics();
    const resources: YamlResource[] = [];
    for (const s of sources) {
      for (const doc of parseYamlDocuments(s.text, s.file, diag)) {
        const kind = scalar(child(doc.root, "kind"));
        if (typeof kind !== "string") continue;
        const name = scalar(child(child(doc.root, "metadata"), "name"));
        resources.push({ file: s.file, kind, name: typeof name === "string" ? name : null, line: doc.line, root: doc.root });
      }
    }
    return new Locator(resources, hosts);
  }

  ofKind(kind: string): YamlResource[] {
    return this.resources.filter((r) => r.kind === kind);
  }

  /** Where `part.field...` of this cluster's policy is written, or where it would go. */
  clusterField(cluster: Cluster, part: PolicyPart, field: readonly string[]): FieldLocation {
    const dr = this.ofKind("DestinationRule").find((r) => {
      const host = scalar(child(child(r.root, "spec"), "host"));
      if (typeof host !== "string") return false;
      const found = resolveHost(host, this.hosts);
      return found !== null && "host" in found && found.host === cluster.host;
    });
    if (dr === undefined) return this.serviceEntryHost(cluster.host);
    const spec = child(dr.root, "spec");
    const top = child(spec, "trafficPolicy");
    let holder: { node: YNode | undefined; path: string } = { node: top, path: "spec.trafficPolicy" };
    const topPort = portEntry(top, cluster.port);
    if (topPort !== null) holder = { node: topPort.node, path: `spec.trafficPolicy.${topPort.path}` };
    if (cluster.subset !== null) {
      const subsets = child(spec, "subsets");
      const items = subsets?.t === "seq" ? subsets.items : [];
      const i = items.findIndex((s) => scalar(child(s, "name")) === cluster.subset);
      const tp = child(items[i], "trafficPolicy");
      const tpPath = `spec.subsets[${i}].trafficPolicy`;
      const subsetPort = portEntry(tp, cluster.port);
      if (subsetPort !== null) holder = { node: subsetPort.node, path: `${tpPath}.${subsetPort.path}` };
      else if (child(tp, part) !== undefined) holder = { node: tp, path: tpPath };
    }
    // Walk down as far as the field is written.
    const keys = [part, ...field];
    const { line, path, depth } = descend(
      holder.node,
      keys,
      holder.node?.line ?? lineOfKey(spec, "trafficPolicy") ?? dr.line,
      holder.node === undefined ? "spec" : holder.path,
    );
    return { file: dr.file, line, path, set: depth === keys.length, holder: holder.path, resource: dr.name };
  }

  /** A field of the Proxy resource (`["downstream", "keepalive", "minPingInterval"]`), or null without one. */
  proxyField(field: readonly string[]): { file: string; line: number; path: string; set: boolean } | null {
    const proxy = this.ofKind("Proxy")[0];
    if (proxy === undefined) return null;
    const { line, path, depth } = descend(child(proxy.root, "spec"), field, proxy.line, "spec");
    return { file: proxy.file, line, path, set: depth === field.length };
  }

  private serviceEntryHost(host: string): FieldLocation {
    for (const se of this.ofKind("ServiceEntry")) {
      const hosts = child(child(se.root, "spec"), "hosts");
      const item =
        hosts?.t === "seq" ? hosts.items.find((h) => typeof scalar(h) === "string" && String(scalar(h)).toLowerCase() === host.toLowerCase()) : undefined;
      if (item !== undefined) return { file: se.file, line: item.line, path: "spec.hosts", set: false, holder: null, resource: se.name };
    }
    return { file: "(config)", line: 0, path: "", set: false, holder: null, resource: null };
  }
}

export function child(node: YNode | undefined, key: string): YNode | undefined {
  return node?.t === "map" ? node.entries.find((e) => e.key === key)?.value : undefined;
}

export function scalar(node: YNode | undefined): unknown {
  return node?.t === "scalar" ? node.value : undefined;
}

function lineOfKey(node: YNode | undefined, key: string): number | undefined {
  return node?.t === "map" ? node.entries.find((e) => e.key === key)?.keyLine : undefined;
}

/** The portLevelSettings entry of a trafficPolicy for `port`, with its path below the policy. */
function portEntry(tp: YNode | undefined, port: number): { node: YNode; path: string } | null {
  const list = child(tp, "portLevelSettings");
  if (list?.t !== "seq") return null;
  const i = list.items.findIndex((e) => scalar(child(child(e, "port"), "number")) === port);
  const node = list.items[i];
  return node === undefined ? null : { node, path: `portLevelSettings[${i}]` };
}

/**
 * Clusters grouped by where a field of theirs is written: subsets and ports that inherit one
 * DestinationRule setting get one finding, not one each.
 */
export function groupByLocation(clusters: Iterable<Cluster>, locate: (c: Cluster) => FieldLocation): { loc: FieldLocation; clusters: Cluster[] }[] {
  const groups = new Map<string, { loc: FieldLocation; clusters: Cluster[] }>();
  for (const c of clusters) {
    const loc = locate(c);
    const key = `${loc.file}\u0000${loc.line}\u0000${loc.path}`;
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { loc, clusters: [c] });
    else g.clusters.push(c);
  }
  return [...groups.values()];
}

/** Walks down `keys` from `node` as far as they are written: the last line and path reached, and how many keys were found. */
function descend(node: YNode | undefined, keys: readonly string[], line: number, path: string): { line: number; path: string; depth: number } {
  let depth = 0;
  for (const key of keys) {
    const entry = node?.t === "map" ? node.entries.find((e) => e.key === key) : undefined;
    if (entry === undefined) break;
    node = entry.value;
    line = entry.keyLine;
    path = `${path}.${key}`;
    depth++;
  }
  return { line, path, depth };
}
