// Listener settings: the sluice Proxy resource (at most one), defaults, then command-line
// overrides, which win. Bad override values are problems like any other, reported against
// the flag instead of a file line.
import { COMMAND_LINE, describe, type Diagnostics } from "./diagnostics.js";
import { DURATION_HELP, parseDuration } from "./duration.js";
import { ADMIN_ADDRESS_HELP, DEFAULT_ADMIN, HOST_PORT_HELP, parseAdminAddress, parseHostPort, type HostPort } from "./host-port.js";
import { DEFAULT_RETRY_BUFFER_BUDGET, DEFAULT_RETRY_BUFFER_LIMIT } from "./retry.js";
import { resolveHost } from "./hosts.js";
import { applyTlsFlags } from "./listener-tls.js";
import { PROXY_MODES, TRANSPORTS, type ParsedHealthCheck, type ParsedProxy } from "./proxy-resource.js";
import type { ResourceMeta } from "./resource-meta.js";
import type { AdminAddress, HealthCheckSettings, ListenerSettings, ProxyMode, TransportKind, VirtualHost } from "./types.js";

/** Values given on the command line (`sluice proxy --listen ...`), as typed. */
export interface ConfigOverrides {
  readonly listen?: string;
  /** host:port, a port (on 127.0.0.1); "none" or "" turns the admin server off. */
  readonly admin?: string;
  readonly mode?: string;
  readonly transport?: string;
  readonly defaultHost?: string;
  /** A duration: `--drain-timeout 30s`. */
  readonly drainTimeout?: string;
  /** --tls-cert and --tls-key (together: one certificate instead of spec.tls's), --tls-client-ca; paths as typed. */
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly tlsClientCa?: string;
}

/** sluice's own HTTP/2 transport; node:http2 stays available as the alternative and the oracle. */
export const DEFAULT_TRANSPORT: TransportKind = "h2";

export const DEFAULT_LISTEN: HostPort = { host: "127.0.0.1", port: 15001 };

export const DEFAULT_DOWNSTREAM = {
  keepalive: { timeMs: null, timeoutMs: 20_000, minPingIntervalMs: 300_000, permitWithoutCalls: false },
  maxConnectionAgeMs: null,
  maxConnectionAgeGraceMs: null,
  // Envoy's HTTP connection manager closes a connection without requests after an hour by
  // default: an abandoned connection does not hold its memory and its place in maxConnections forever.
  maxConnectionIdleMs: 3_600_000,
  // Streams one client connection may hold open. gRPC clients carry a whole channel's RPCs on
  // one connection and the servers they know advertise no limit (grpc-go, node:http2), so
  // the browser-sized defaults of HAProxy (100), nginx (128) and Go's net/http2 (250) would
  // queue RPCs in the client; Envoy's 2^31-1 leaves per-connection work unbounded (a SETTINGS
  // change or a GOAWAY walks every stream). 1,000 is far above one channel's usual concurrency
  // and bounds what one connection can hold.
  maxConcurrentStreams: 1000,
  // Client connections at once. An idle connection costs ~7 KB, so 10,000 hold ~70 MB; one
  // client opening connection after connection cannot take the process's file descriptors
  // (Envoy leaves this to its overload manager, HAProxy to maxconn).
  maxConnections: 10_000,
  // Upstream streams the whole process lets its clients cancel within a second of opening
  // (rapid reset spread over connections). A well-behaved client's cancels are mostly later
  // deadlines; 1,000 a second is about a tenth of what one flooding client on loopback
  // managed to send backends, and above what a busy service's clients cancel that fast.
  maxPrematureCancelsPerSecond: 1000,
} as const;

/** gRFC A8 client defaults: no pings unless configured; 20 s for an answer. */
export const DEFAULT_UPSTREAM = {
  keepalive: { timeMs: null, timeoutMs: 20_000 },
} as const;

export const DEFAULT_CHOICE_COUNT = 2;

/** Istio's: the workload certificate's files in /etc/certs, identities in the cluster.local trust domain. */
export const DEFAULT_WORKLOAD_CERTIFICATES = { directory: "/etc/certs", trustDomain: "cluster.local" } as const;

/**
 * spec.healthCheck fields left out. Envoy has no defaults (it requires all four); these are
 * what its docs and Istio users commonly write: a dead or hung endpoint leaves within two
 * intervals plus a timeout, a recovered one returns at its first SERVING answer.
 */
export const DEFAULT_HEALTH_CHECK = {
  intervalMs: 5000,
  timeoutMs: 1000,
  unhealthyThreshold: 2,
  healthyThreshold: 1,
  serviceName: "",
} as const;

/**
 * @param definedHosts the ServiceEntry hosts, as spelled there (health checks name them)
 */
/** How long SIGTERM lets RPCs in flight finish: Istio's terminationDrainDuration, 5s. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 5000;

/**
 * spec.imbalanceWarning fields left out: warn when the busiest endpoint takes over 1.5x the
 * mean request rate for 30 s (three 10 s rate windows: a burst does not warn, a skew does).
 */
export const DEFAULT_IMBALANCE_WARNING = { threshold: 1.5, windowMs: 30_000 } as const;

export function buildListener(
  proxies: readonly ParsedProxy[],
  overrides: ConfigOverrides,
  virtualHosts: readonly VirtualHost[],
  definedHosts: readonly string[],
  diag: Diagnostics,
): ListenerSettings {
  const [first, ...extra] = proxies;
  if (first !== undefined) {
    for (const p of extra) {
      diag.error(p.meta.file, p.meta.line, "kind", `at most one Proxy resource is allowed; another is at ${first.meta.file}:${first.meta.line}`);
    }
  }
  const flag = (name: string, message: string): void => diag.error(COMMAND_LINE, 0, `--${name}`, message);

  let listen = first?.listen ?? DEFAULT_LISTEN;
  if (overrides.listen !== undefined) {
    const hp = parseHostPort(overrides.listen);
    if (hp === undefined) flag("listen", `must be ${HOST_PORT_HELP}, got ${describe(overrides.listen)}`);
    else listen = hp;
  }

  // On by default, on loopback only; a default port another process holds is only a warning.
  let admin: AdminAddress | null =
    first?.admin === null ? null : first?.admin !== undefined ? { ...first.admin, configured: true } : { ...DEFAULT_ADMIN, configured: false };
  if (overrides.admin !== undefined) {
    const hp = overrides.admin === "" ? null : parseAdminAddress(overrides.admin);
    if (hp === undefined) flag("admin", `must be ${ADMIN_ADDRESS_HELP}, got ${describe(overrides.admin)}`);
    else admin = hp === null ? null : { ...hp, configured: true };
  }

  let mode: ProxyMode = first?.mode ?? "request";
  if (overrides.mode !== undefined) {
    const m = PROXY_MODES.find((x) => x === overrides.mode);
    if (m === undefined) flag("mode", `must be one of ${PROXY_MODES.join(", ")}, got ${describe(overrides.mode)}`);
    else mode = m;
  }

  let transport: TransportKind = first?.transport ?? DEFAULT_TRANSPORT;
  if (overrides.transport !== undefined) {
    const t = TRANSPORTS.find((x) => x === overrides.transport);
    if (t === undefined) flag("transport", `must be one of ${TRANSPORTS.join(", ")}, got ${describe(overrides.transport)}`);
    else transport = t;
  }

  const domains = virtualHosts.flatMap((v) => v.domains);
  const known = domains.length === 0 ? "no hosts are defined" : `defined hosts: ${domains.join(", ")}`;
  let defaultHost: string | null = null;
  if (overrides.defaultHost !== undefined) {
    const d = overrides.defaultHost.toLowerCase();
    if (domains.includes(d)) defaultHost = d;
    else flag("default-host", `${describe(overrides.defaultHost)} is not a defined host (${known})`);
  } else if (first?.defaultHost !== undefined) {
    const d = first.defaultHost.name.toLowerCase();
    if (domains.includes(d)) defaultHost = d;
    else diag.error(first.meta.file, first.defaultHost.line, "spec.defaultHost", `${describe(first.defaultHost.name)} is not a defined host (${known})`);
  } else if (virtualHosts.length === 1) {
    // With a single host there is nothing to choose: requests for any authority go to it.
    defaultHost = virtualHosts[0]?.domains[0] ?? null;
  }

  let drainTimeoutMs = first?.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  if (overrides.drainTimeout !== undefined) {
    const d = parseDuration(overrides.drainTimeout);
    if (d.ok) drainTimeoutMs = d.ms;
    else flag("drain-timeout", `must be ${DURATION_HELP}, got ${describe(overrides.drainTimeout)}`);
  }

  let tls = first?.tls ?? null;
  if (overrides.tlsCert !== undefined || overrides.tlsKey !== undefined || overrides.tlsClientCa !== undefined) {
    tls = applyTlsFlags(tls, { cert: overrides.tlsCert, key: overrides.tlsKey, clientCa: overrides.tlsClientCa }, diag);
  }

  const ka = first?.keepalive ?? {};
  const d = DEFAULT_DOWNSTREAM;
  return {
    listen,
    tls,
    workloadCertificates: {
      directory: first?.workloadCertificates?.directory ?? DEFAULT_WORKLOAD_CERTIFICATES.directory,
      trustDomain: first?.trustDomain ?? DEFAULT_WORKLOAD_CERTIFICATES.trustDomain,
    },
    admin,
    mode,
    transport,
    defaultHost,
    downstream: {
      keepalive: {
        timeMs: ka.timeMs ?? d.keepalive.timeMs,
        timeoutMs: ka.timeoutMs ?? d.keepalive.timeoutMs,
        minPingIntervalMs: ka.minPingIntervalMs ?? d.keepalive.minPingIntervalMs,
        permitWithoutCalls: ka.permitWithoutCalls ?? d.keepalive.permitWithoutCalls,
      },
      maxConnectionAgeMs: first?.maxConnectionAgeMs ?? d.maxConnectionAgeMs,
      maxConnectionAgeGraceMs: first?.maxConnectionAgeGraceMs ?? d.maxConnectionAgeGraceMs,
      // 0s: no idle timeout (the default is an hour).
      maxConnectionIdleMs: first?.maxConnectionIdleMs === 0 ? null : (first?.maxConnectionIdleMs ?? d.maxConnectionIdleMs),
      maxConcurrentStreams: first?.maxConcurrentStreams ?? d.maxConcurrentStreams,
      maxConnections: first?.maxConnections ?? d.maxConnections,
      maxPrematureCancelsPerSecond: first?.maxPrematureCancelsPerSecond ?? d.maxPrematureCancelsPerSecond,
    },
    upstream: {
      keepalive: {
        timeMs: first?.upstreamKeepalive.timeMs ?? DEFAULT_UPSTREAM.keepalive.timeMs,
        timeoutMs: first?.upstreamKeepalive.timeoutMs ?? DEFAULT_UPSTREAM.keepalive.timeoutMs,
      },
    },
    leastRequestChoiceCount: first?.choiceCount ?? DEFAULT_CHOICE_COUNT,
    retryBufferLimit: first?.retryBufferLimit ?? DEFAULT_RETRY_BUFFER_LIMIT,
    retryBufferBudget: first?.retryBufferBudget ?? DEFAULT_RETRY_BUFFER_BUDGET,
    latencyOutlier: first?.latencyOutlier ?? null,
    healthCheck: first?.healthCheck === undefined ? null : buildHealthCheck(first.healthCheck, first.meta, definedHosts, diag),
    drainTimeoutMs,
    accessLog: first?.accessLog ?? false,
    imbalanceWarning: {
      threshold: first?.imbalanceWarning?.threshold ?? DEFAULT_IMBALANCE_WARNING.threshold,
      windowMs: first?.imbalanceWarning?.windowMs ?? DEFAULT_IMBALANCE_WARNING.windowMs,
    },
  };
}

function buildHealthCheck(hc: ParsedHealthCheck, meta: ResourceMeta, definedHosts: readonly string[], diag: Diagnostics): HealthCheckSettings {
  const d = DEFAULT_HEALTH_CHECK;
  let hosts: string[] | null = null;
  if (hc.hosts !== undefined) {
    const named: string[] = [];
    const known = definedHosts.length === 0 ? "no ServiceEntry defines any host" : `defined hosts: ${definedHosts.join(", ")}`;
    hc.hosts.forEach((h, i) => {
      const found = resolveHost(h.value, definedHosts);
      const path = `spec.healthCheck.hosts[${i}]`;
      if (found === null) diag.error(meta.file, h.line, path, `host ${JSON.stringify(h.value)} is not defined by any ServiceEntry (${known})`);
      else if ("ambiguous" in found)
        diag.error(meta.file, h.line, path, `host ${JSON.stringify(h.value)} is ambiguous: it may mean ${found.ambiguous.join(" or ")}; write the full name`);
      else if (!named.includes(found.host)) named.push(found.host);
    });
    hosts = named;
  }
  return {
    intervalMs: hc.intervalMs ?? d.intervalMs,
    timeoutMs: hc.timeoutMs ?? d.timeoutMs,
    unhealthyThreshold: hc.unhealthyThreshold ?? d.unhealthyThreshold,
    healthyThreshold: hc.healthyThreshold ?? d.healthyThreshold,
    serviceName: hc.serviceName ?? d.serviceName,
    hosts,
  };
}
