// DestinationRule trafficPolicy (istio TrafficPolicy) and Istio's rules for combining the
// DestinationRule-level, port-level and subset policies into one policy per cluster.
import { parseConnectionPool } from "./connection-pool.js";
import { DEFAULT_CONNECTION_POOL, DEFAULT_LOAD_BALANCER } from "./limits.js";
import { parseLoadBalancer } from "./load-balancer.js";
import { parseOutlierDetection } from "./outlier-detection.js";
import type { MapReader } from "./reader.js";
import { parseRetryBudget } from "./retry.js";
import { parseUpstreamTls } from "./tls.js";
import type { ConnectionPoolSettings, LoadBalancerSettings, OutlierDetectionSettings, RetryBudget, TrafficPolicy, UpstreamTlsSettings } from "./types.js";

const TP = "spec.trafficPolicy";

/** The parts Istio replaces wholesale when a more specific policy sets them. */
export interface PolicyParts {
  readonly loadBalancer?: LoadBalancerSettings;
  readonly connectionPool?: ConnectionPoolSettings;
  readonly outlierDetection?: OutlierDetectionSettings;
  /** null: set to plaintext here (DISABLE), which replaces a less specific policy's TLS as any other setting does. */
  readonly tls?: UpstreamTlsSettings | null;
}

export interface PortLevelEntry {
  readonly port: number;
  readonly parts: PolicyParts;
  /** For "not a port of the host" problems. */
  readonly file: string;
  readonly line: number;
  readonly path: string;
}

export interface ParsedPolicy {
  readonly parts: PolicyParts;
  readonly portLevel: readonly PortLevelEntry[];
  /** A trafficPolicy-level field only (not in portLevelSettings); a subset's replaces the DR's. */
  readonly retryBudget: RetryBudget | undefined;
}

export function parseTrafficPolicy(r: MapReader): ParsedPolicy {
  const parts = readParts(r);
  const portLevel: PortLevelEntry[] = [];
  for (const p of r.mapList("portLevelSettings")) {
    const portReader = p.map("port");
    const port = portReader?.int("number", { min: 1, max: 65535 }, { required: true });
    portReader?.finish();
    if (portReader === undefined) p.error(null, "port is required");
    const entry = readParts(p, TP);
    p.finish();
    if (port === undefined) continue;
    if (portLevel.some((e) => e.port === port)) {
      p.error("port", `port ${port} already has portLevelSettings in this trafficPolicy`);
      continue;
    }
    portLevel.push({ port, parts: entry, file: p.ctx.file, line: p.line, path: p.path });
  }
  parseProxyProtocol(r.map("proxyProtocol"));
  parseTunnel(r.map("tunnel"));
  const retryBudget = parseRetryBudget(r.map("retryBudget"));
  r.finish();
  return { parts, portLevel, retryBudget };
}

/**
 * loadBalancer, connectionPool, outlierDetection and tls. Inside portLevelSettings they
 * reuse the rows of `spec.trafficPolicy.*` (`schemaBase`), as Istio uses the same messages.
 */
function readParts(r: MapReader, schemaBase?: string): PolicyParts {
  const child = (key: string): string | undefined => (schemaBase === undefined ? undefined : `${schemaBase}.${key}`);
  const lbReader = r.map("loadBalancer", child("loadBalancer"));
  const poolReader = r.map("connectionPool", child("connectionPool"));
  const odReader = r.map("outlierDetection", child("outlierDetection"));
  const tls = parseUpstreamTls(r.map("tls", child("tls")));
  const loadBalancer = lbReader === undefined ? undefined : parseLoadBalancer(lbReader);
  const connectionPool = poolReader === undefined ? undefined : parseConnectionPool(poolReader);
  const outlierDetection = odReader === undefined ? undefined : parseOutlierDetection(odReader);
  return {
    ...(loadBalancer === undefined ? {} : { loadBalancer }),
    ...(connectionPool === undefined ? {} : { connectionPool }),
    ...(outlierDetection === undefined ? {} : { outlierDetection }),
    ...(tls === undefined ? {} : { tls }),
  };
}

function parseProxyProtocol(r: MapReader | undefined): void {
  if (r === undefined) return;
  r.enumOf("version", ["V1", "V2"]);
  r.finish();
}

function parseTunnel(r: MapReader | undefined): void {
  if (r === undefined) return;
  r.enumOf("protocol", ["CONNECT", "POST"]);
  r.string("targetHost", { required: true });
  r.int("targetPort", { min: 1, max: 65535 }, { required: true });
  r.finish();
}

/**
 * The policy of one cluster, following Istio's MergeTrafficPolicy: the DestinationRule's
 * policy, replaced wholesale for this port by its portLevelSettings entry (parts that entry
 * leaves unset fall back to defaults, not to the DR level: "port level settings do not
 * inherit"); then each part the subset sets replaces the merged one; then the subset's own
 * portLevelSettings entry for this port. Whatever is still unset gets Istio's defaults.
 */
export function mergePolicy(top: ParsedPolicy | undefined, subset: ParsedPolicy | undefined, port: number): TrafficPolicy {
  let parts = forPort(top, port);
  if (subset !== undefined) {
    parts = { ...parts, ...subset.parts };
    const subsetPort = subset.portLevel.find((e) => e.port === port);
    if (subsetPort !== undefined) parts = subsetPort.parts;
  }
  return {
    loadBalancer: parts.loadBalancer ?? DEFAULT_LOAD_BALANCER,
    connectionPool: parts.connectionPool ?? DEFAULT_CONNECTION_POOL,
    outlierDetection: parts.outlierDetection ?? null,
    retryBudget: subset?.retryBudget ?? top?.retryBudget ?? null,
    tls: parts.tls ?? null,
  };
}

function forPort(policy: ParsedPolicy | undefined, port: number): PolicyParts {
  if (policy === undefined) return {};
  return policy.portLevel.find((e) => e.port === port)?.parts ?? policy.parts;
}
