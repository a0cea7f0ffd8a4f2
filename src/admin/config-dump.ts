// /config_dump: the running config as the proxy uses it, every default filled in (config/
// validated and defaulted it), as JSON: Maps become objects, Sets arrays.
import type { ProxyConfig } from "../config/types.js";

export function configDump(config: ProxyConfig): string {
  const { listener, clusters, virtualHosts, warnings } = config;
  return JSON.stringify({ listener, clusters, virtualHosts, warnings }, replacer, 2);
}

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...(value as Set<unknown>)];
  if (value === Infinity) return "Infinity";
  return value;
}
