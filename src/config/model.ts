// Parsed resources -> clusters and virtual hosts, with the checks that need more than one
// resource: hosts defined once, DestinationRules and routes pointing at defined hosts,
// subsets and ports. Problems go to `diag`; the result is only used when there are none.
import type { Diagnostics } from "./diagnostics.js";
import type { ParsedDestinationRule } from "./destination-rule.js";
import { domainsOf, resolveHost } from "./hosts.js";
import type { ParsedServiceEntry } from "./service-entry.js";
import { ISTIO_DEFAULT_RETRY } from "./retry.js";
import { mergePolicy, type ParsedPolicy } from "./traffic-policy.js";
import type { Cluster, Endpoint, HttpRoute, ServicePort, TrafficPolicy, VirtualHost, WeightedCluster } from "./types.js";
import type { ParsedDestination, ParsedVirtualService } from "./virtual-service.js";

/** `host|port|subset`, with an empty subset for the host's default cluster. */
export function clusterName(host: string, port: number, subset: string | null): string {
  return `${host}|${port}|${subset ?? ""}`;
}

export interface ModelInput {
  readonly serviceEntries: readonly ParsedServiceEntry[];
  readonly destinationRules: readonly ParsedDestinationRule[];
  readonly virtualServices: readonly ParsedVirtualService[];
}

export interface Model {
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly virtualHosts: readonly VirtualHost[];
}

interface HostEntry {
  readonly name: string;
  readonly se: ParsedServiceEntry;
  readonly line: number;
  dr?: ParsedDestinationRule;
}

export function buildModel(input: ModelInput, diag: Diagnostics): Model {
  const hosts = collectHosts(input.serviceEntries, diag);
  attachDestinationRules(input.destinationRules, hosts, diag);
  const clusters = new Map<string, Cluster>();
  for (const h of hosts.values()) for (const c of clustersOf(h, diag)) clusters.set(c.name, c);
  const virtualHosts = buildVirtualHosts(input.virtualServices, hosts, diag);
  return { clusters, virtualHosts };
}

function collectHosts(entries: readonly ParsedServiceEntry[], diag: Diagnostics): Map<string, HostEntry> {
  const hosts = new Map<string, HostEntry>();
  for (const se of entries) {
    for (const h of se.hosts) {
      const key = h.name.toLowerCase();
      const prior = hosts.get(key);
      if (prior !== undefined) {
        diag.error(
          se.meta.file,
          h.line,
          "spec.hosts",
          `host ${JSON.stringify(h.name)} is already defined by the ServiceEntry at ${prior.se.meta.file}:${prior.line}`,
        );
        continue;
      }
      hosts.set(key, { name: h.name, se, line: h.line });
    }
  }
  return hosts;
}

function definedHostsText(hosts: ReadonlyMap<string, HostEntry>): string {
  const names = [...hosts.values()].map((h) => h.name);
  return names.length === 0 ? "no ServiceEntry defines any host" : `defined hosts: ${names.join(", ")}`;
}

function findHost(name: string, hosts: ReadonlyMap<string, HostEntry>): HostEntry | string {
  const found = resolveHost(
    name,
    [...hosts.values()].map((h) => h.name),
  );
  if (found === null) return `host ${JSON.stringify(name)} is not defined by any ServiceEntry (${definedHostsText(hosts)})`;
  if ("ambiguous" in found) return `host ${JSON.stringify(name)} is ambiguous: it may mean ${found.ambiguous.join(" or ")}; write the full name`;
  const entry = hosts.get(found.host.toLowerCase());
  return entry ?? `host ${JSON.stringify(name)} is not defined`;
}

function attachDestinationRules(rules: readonly ParsedDestinationRule[], hosts: Map<string, HostEntry>, diag: Diagnostics): void {
  for (const dr of rules) {
    const host = findHost(dr.host, hosts);
    if (typeof host === "string") {
      diag.error(dr.meta.file, dr.hostLine, "spec.host", host);
      continue;
    }
    if (host.dr !== undefined) {
      diag.error(
        dr.meta.file,
        dr.hostLine,
        "spec.host",
        `host ${JSON.stringify(host.name)} already has a DestinationRule at ${host.dr.meta.file}:${host.dr.hostLine}`,
      );
      continue;
    }
    host.dr = dr;
    const ports = host.se.ports;
    const checkPorts = (policy: ParsedPolicy | undefined): void => {
      for (const e of policy?.portLevel ?? []) {
        if (ports.some((p) => p.number === e.port)) continue;
        diag.error(
          e.file,
          e.line,
          `${e.path}.port.number`,
          `port ${e.port} is not a port of host ${host.name} (ports: ${ports.map((p) => p.number).join(", ")})`,
        );
      }
    };
    checkPorts(dr.policy);
    for (const s of dr.subsets) checkPorts(s.policy);
  }
}

function endpointsFor(h: HostEntry, port: ServicePort): Endpoint[] {
  const se = h.se;
  // Istio: DNS resolution without endpoints means the hosts themselves are the endpoints.
  if (se.endpoints.length === 0) {
    return se.resolution === "DNS" ? [{ address: h.name, port: port.targetPort, weight: 1, labels: {} }] : [];
  }
  // Istio's namespace of an unnamespaced resource, for the SPIFFE identity spiffe://TD/ns/NS/sa/SA.
  const namespace = se.meta.namespace ?? "default";
  return se.endpoints.map((e) => {
    const endpoint = { address: e.address, port: e.ports[port.name] ?? port.targetPort, weight: e.weight, labels: e.labels };
    return e.serviceAccount === undefined ? endpoint : { ...endpoint, identity: { namespace, serviceAccount: e.serviceAccount } };
  });
}

/**
 * Istio's rule for a ServiceEntry's subjectAltNames: the server certificate must carry one of
 * them when the DestinationRule's tls names none (and verifies at all).
 */
function withServiceSans(policy: TrafficPolicy, sans: readonly string[]): TrafficPolicy {
  const tls = policy.tls;
  if (tls === null || sans.length === 0 || tls.subjectAltNames.length > 0 || tls.insecureSkipVerify) return policy;
  return { ...policy, tls: { ...tls, subjectAltNames: sans } };
}

function matchesLabels(e: Endpoint, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([k, v]) => e.labels[k] === v);
}

function clustersOf(h: HostEntry, diag: Diagnostics): Cluster[] {
  const out: Cluster[] = [];
  for (const port of h.se.ports) {
    const endpoints = endpointsFor(h, port);
    const base = { host: h.name, port: port.number, resolution: h.se.resolution };
    const sans = h.se.subjectAltNames;
    out.push({
      ...base,
      name: clusterName(h.name, port.number, null),
      subset: null,
      endpoints,
      policy: withServiceSans(mergePolicy(h.dr?.policy, undefined, port.number), sans),
    });
    for (const s of h.dr?.subsets ?? []) {
      const selected = endpoints.filter((e) => matchesLabels(e, s.labels));
      if (selected.length === 0 && h.dr !== undefined) {
        diag.warn(
          h.dr.meta.file,
          s.line,
          "spec.subsets",
          `subset ${JSON.stringify(s.name)} selects no endpoint of host ${h.name}: its requests will fail with UNAVAILABLE`,
          `subset ${h.name} ${s.name}`,
        );
      }
      out.push({
        ...base,
        name: clusterName(h.name, port.number, s.name),
        subset: s.name,
        endpoints: selected,
        policy: withServiceSans(mergePolicy(h.dr?.policy, s.policy, port.number), sans),
      });
    }
  }
  return out;
}

function buildVirtualHosts(services: readonly ParsedVirtualService[], hosts: ReadonlyMap<string, HostEntry>, diag: Diagnostics): VirtualHost[] {
  const claimed = new Map<string, string>(); // domain -> "file:line" of its claimant
  const virtualHosts: VirtualHost[] = [];
  for (const vs of services) {
    const domains: string[] = [];
    for (const h of vs.hosts) {
      for (const d of domainsOf(h.name)) {
        const prior = claimed.get(d);
        if (prior !== undefined) {
          if (d === h.name.toLowerCase())
            diag.error(vs.meta.file, h.line, "spec.hosts", `host ${JSON.stringify(h.name)} is already routed by the VirtualService at ${prior}`);
          continue;
        }
        claimed.set(d, `${vs.meta.file}:${h.line}`);
        domains.push(d);
      }
    }
    const routes: HttpRoute[] = [];
    for (const r of vs.routes) {
      const single = r.destinations.length === 1;
      const destinations: WeightedCluster[] = [];
      for (const d of r.destinations) {
        const cluster = resolveDestination(d, hosts, vs.meta.file, diag);
        // Weights are relative; a lone destination gets all traffic whatever it says.
        if (cluster !== undefined) destinations.push({ cluster, weight: single ? 100 : (d.weight ?? 0) });
      }
      routes.push({ matches: r.matches, destinations, timeoutMs: r.timeoutMs, retry: r.retry ?? ISTIO_DEFAULT_RETRY });
    }
    virtualHosts.push({ domains, routes });
  }
  // Every ServiceEntry host that no VirtualService routes gets all its traffic sent to its
  // first port's default cluster.
  for (const h of hosts.values()) {
    if (claimed.has(h.name.toLowerCase())) continue;
    const first = h.se.ports[0];
    if (first === undefined) continue;
    const domains = domainsOf(h.name).filter((d) => !claimed.has(d));
    for (const d of domains) claimed.set(d, `${h.se.meta.file}:${h.line}`);
    virtualHosts.push({
      domains,
      routes: [{ matches: [], destinations: [{ cluster: clusterName(h.name, first.number, null), weight: 100 }], timeoutMs: null, retry: ISTIO_DEFAULT_RETRY }],
    });
  }
  return virtualHosts;
}

function resolveDestination(d: ParsedDestination, hosts: ReadonlyMap<string, HostEntry>, file: string, diag: Diagnostics): string | undefined {
  const host = findHost(d.host, hosts);
  if (typeof host === "string") {
    diag.error(file, d.line, `${d.path}.host`, host);
    return undefined;
  }
  const ports = host.se.ports;
  const port = d.port === null ? ports[0] : ports.find((p) => p.number === d.port);
  if (port === undefined) {
    diag.error(file, d.line, `${d.path}.port.number`, `port ${d.port} is not a port of host ${host.name} (ports: ${ports.map((p) => p.number).join(", ")})`);
    return undefined;
  }
  if (d.subset !== null) {
    const subsets = host.dr?.subsets.map((s) => s.name) ?? [];
    if (!subsets.includes(d.subset)) {
      const known = subsets.length === 0 ? `no DestinationRule defines subsets for host ${host.name}` : `subsets of ${host.name}: ${subsets.join(", ")}`;
      diag.error(file, d.line, `${d.path}.subset`, `subset ${JSON.stringify(d.subset)} is not defined (${known})`);
      return undefined;
    }
  }
  return clusterName(host.name, port.number, d.subset);
}
