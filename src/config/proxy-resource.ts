// sluice's own resource (apiVersion sluice.dev/v1alpha1, kind Proxy) for what Istio has no
// field for: where to listen, the balancing mode, downstream keepalive and connection age.
import { describe } from "./diagnostics.js";
import { HOST_PORT_HELP, parseHostPort, type HostPort } from "./host-port.js";
import type { MapReader } from "./reader.js";
import type { ResourceMeta } from "./resource-meta.js";
import type { ProxyMode, TransportKind } from "./types.js";

export interface ParsedProxy {
  readonly kind: "Proxy";
  readonly meta: ResourceMeta;
  readonly listen?: HostPort;
  readonly admin?: HostPort;
  readonly mode?: ProxyMode;
  readonly transport?: TransportKind;
  readonly defaultHost?: { readonly name: string; readonly line: number };
  readonly keepalive: {
    readonly timeMs?: number;
    readonly timeoutMs?: number;
    readonly minPingIntervalMs?: number;
    readonly permitWithoutCalls?: boolean;
  };
  readonly maxConnectionAgeMs?: number;
  readonly maxConnectionAgeGraceMs?: number;
  readonly maxConnectionIdleMs?: number;
  readonly choiceCount?: number;
}

export const PROXY_MODES: readonly ProxyMode[] = ["request", "connection"];
export const TRANSPORTS: readonly TransportKind[] = ["h2", "node"];

export function parseProxyResource(r: MapReader, meta: ResourceMeta): ParsedProxy {
  const listen = hostPort(r, "listen");
  const admin = hostPort(r, "admin");
  const mode = r.enumOf("mode", PROXY_MODES);
  const transport = r.enumOf("transport", TRANSPORTS);
  const defaultHostName = r.string("defaultHost");
  const downstream = r.map("downstream");
  const ka = downstream?.map("keepalive");
  const keepalive = {
    timeMs: ka?.duration("time"),
    timeoutMs: ka?.duration("timeout"),
    minPingIntervalMs: ka?.duration("minPingInterval"),
    permitWithoutCalls: ka?.bool("permitWithoutCalls"),
  };
  ka?.finish();
  const maxConnectionAgeMs = downstream?.duration("maxConnectionAge");
  const maxConnectionAgeGraceMs = downstream?.duration("maxConnectionAgeGrace");
  const maxConnectionIdleMs = downstream?.duration("maxConnectionIdle");
  downstream?.finish();
  const lr = r.map("leastRequest");
  // Envoy's least_request choice_count: at least 2 (1 would be random).
  const choiceCount = lr?.int("choiceCount", { min: 2, max: 100 });
  lr?.finish();
  r.finish();
  return dropUndefined({
    kind: "Proxy" as const,
    meta,
    listen,
    admin,
    mode,
    transport,
    defaultHost: defaultHostName === undefined ? undefined : { name: defaultHostName, line: r.lineOf("defaultHost") },
    keepalive: dropUndefined(keepalive),
    maxConnectionAgeMs,
    maxConnectionAgeGraceMs,
    maxConnectionIdleMs,
    choiceCount,
  });
}

function hostPort(r: MapReader, key: string): HostPort | undefined {
  const text = r.string(key);
  if (text === undefined) return undefined;
  const hp = parseHostPort(text);
  if (hp === undefined) r.error(key, `must be ${HOST_PORT_HELP}, got ${describe(text)}`);
  return hp;
}

/** Optional properties are left out rather than set to undefined. */
function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
