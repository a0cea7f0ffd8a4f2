// ServiceEntry spec (istio service_entry.proto): the hosts sluice proxies to, their ports
// and endpoints. This is where clusters' endpoints come from.
import { isIP } from "node:net";
import { closest, describe } from "./diagnostics.js";
import { parseWorkloadSelector } from "./destination-rule.js";
import type { MapReader } from "./reader.js";
import type { ResourceMeta } from "./resource-meta.js";
import { PROTOCOLS } from "./support.js";
import type { ServicePort } from "./types.js";

export interface ParsedEndpoint {
  readonly address: string;
  /** Port name -> endpoint port, overriding the service port's targetPort. */
  readonly ports: Readonly<Record<string, number>>;
  readonly weight: number;
  readonly labels: Readonly<Record<string, string>>;
  /** ISTIO_MUTUAL's identity of the endpoint (with the ServiceEntry's namespace); absent when not set. */
  readonly serviceAccount?: string;
}

export interface ParsedServiceEntry {
  readonly kind: "ServiceEntry";
  readonly meta: ResourceMeta;
  readonly hosts: readonly { readonly name: string; readonly line: number }[];
  readonly ports: readonly ServicePort[];
  /** STATIC or DNS after mapping Istio's NONE and DNS_ROUND_ROBIN (with a warning). */
  readonly resolution: "STATIC" | "DNS";
  readonly endpoints: readonly ParsedEndpoint[];
  /** Names the servers' certificates must carry when a DestinationRule's tls gives none (Istio's rule for ServiceEntries). */
  readonly subjectAltNames: readonly string[];
}

const RESOLUTIONS = ["NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN"] as const;
const PORT = { min: 1, max: 65535 };
/** Envoy's upper bound on an endpoint's load-balancing weight. */
const MAX_WEIGHT = 128;

export function parseServiceEntry(r: MapReader, meta: ResourceMeta): ParsedServiceEntry | undefined {
  const hostItems = r.stringItems("hosts");
  if (!r.has("hosts") || hostItems?.length === 0) r.error(r.has("hosts") ? "hosts" : null, "hosts is required: at least one host name");
  const hosts = (hostItems ?? []).map((h) => ({ name: h.value, line: h.line }));
  r.stringList("addresses");
  const ports = parsePorts(r);
  r.enumOf("location", ["MESH_EXTERNAL", "MESH_INTERNAL"]);
  const written = r.enumOf("resolution", RESOLUTIONS);
  // Istio's default is NONE; say how sluice treats it even when it is only implied.
  if (!r.has("resolution")) r.warnValue("resolution", "NONE", r.line);
  const endpointReaders = r.mapList("endpoints");
  const endpoints: ParsedEndpoint[] = [];
  const resolution = mapResolution(written ?? "NONE", endpointReaders.length > 0);
  for (const e of endpointReaders) {
    const ep = parseEndpoint(e, ports, resolution);
    if (ep !== undefined) endpoints.push(ep);
  }
  r.stringList("exportTo");
  parseWorkloadSelector(r);
  const subjectAltNames = r.stringList("subjectAltNames") ?? [];
  r.finish();

  if (resolution === "STATIC" && endpointReaders.length === 0 && written === "STATIC") {
    r.error("resolution", "STATIC needs endpoints: list them under spec.endpoints, or use DNS to resolve the hosts");
  }
  if (resolution === "DNS" && endpointReaders.length === 0) {
    for (const h of hosts) {
      if (h.name.includes("*")) r.error("hosts", `${JSON.stringify(h.name)}: a wildcard host cannot be resolved with DNS when no endpoints are given`);
    }
  }
  if (written === undefined && r.has("resolution")) return undefined;
  return { kind: "ServiceEntry", meta, hosts, ports, resolution, endpoints, subjectAltNames };
}

/** NONE (pass through to the original address) has no meaning for a proxy that routes by name. */
function mapResolution(written: (typeof RESOLUTIONS)[number], hasEndpoints: boolean): "STATIC" | "DNS" {
  switch (written) {
    case "STATIC":
      return "STATIC";
    case "DNS":
    case "DNS_ROUND_ROBIN":
      return "DNS";
    case "NONE":
      return hasEndpoints ? "STATIC" : "DNS";
  }
}

function parsePorts(r: MapReader): ServicePort[] {
  const ports: ServicePort[] = [];
  const readers = r.mapList("ports");
  if (!r.has("ports") || readers.length === 0) r.error(r.has("ports") ? "ports" : null, "ports is required: at least one port");
  for (const p of readers) {
    const number = p.int("number", PORT, { required: true });
    const name = p.string("name", { required: true });
    const protocolText = p.string("protocol");
    const targetPort = p.int("targetPort", PORT);
    p.finish();
    // Istio reads protocols case-insensitively.
    const protocol = (protocolText ?? "GRPC").toUpperCase();
    if (!PROTOCOLS.includes(protocol)) {
      p.error("protocol", `must be one of ${PROTOCOLS.join(", ")}, got ${describe(protocolText)}`);
    } else if (protocolText !== undefined) p.warnValue("protocol", protocol);
    if (number === undefined || name === undefined) continue;
    if (ports.some((x) => x.number === number)) p.error("number", `port ${number} is listed twice`);
    else if (ports.some((x) => x.name === name)) p.error("name", `port name ${JSON.stringify(name)} is used twice`);
    else ports.push({ number, name, protocol, targetPort: targetPort ?? number });
  }
  return ports;
}

function parseEndpoint(r: MapReader, ports: readonly ServicePort[], resolution: "STATIC" | "DNS"): ParsedEndpoint | undefined {
  const address = r.string("address", { required: true });
  const endpointPorts = r.scalarMap(
    "ports",
    (v): v is number => typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 65535,
    "an integer from 1 to 65535",
  );
  const weight = r.int("weight", { min: 1, max: MAX_WEIGHT });
  const labels = r.stringMap("labels") ?? {};
  r.string("network");
  r.string("locality");
  const serviceAccount = r.string("serviceAccount");
  r.finish();
  for (const name of Object.keys(endpointPorts ?? {})) {
    if (ports.some((p) => p.name === name)) continue;
    const hint = closest(
      name,
      ports.map((p) => p.name),
    );
    const known = ports.map((p) => p.name).join(", ");
    r.error("ports", `${JSON.stringify(name)} is not a port name of this ServiceEntry (${hint === null ? `ports: ${known}` : `did you mean ${hint}?`})`);
  }
  if (address === undefined) return undefined;
  if (resolution === "STATIC" && isIP(address) === 0) {
    const hint = address.startsWith("unix://") ? "unix:// endpoints are not supported yet" : "use resolution DNS for host names";
    r.error("address", `must be an IP address with resolution STATIC, got ${JSON.stringify(address)} (${hint})`);
  }
  const base = { address, ports: endpointPorts ?? {}, weight: weight ?? 1, labels };
  // Empty is unset, as in Istio (proto3).
  return serviceAccount === undefined || serviceAccount === "" ? base : { ...base, serviceAccount };
}
