// Host names: which names a host answers to, and finding the ServiceEntry host that a
// DestinationRule or route destination refers to.

const KUBERNETES_SERVICE = /^([^.*]+)\.[^.]+\.svc(?:\.|$)/;

/**
 * The names `:authority` may carry for a host: the name as written (lower case) and, for a
 * Kubernetes service FQDN like `grpc-service.default.svc.cluster.local`, its short name.
 */
export function domainsOf(host: string): string[] {
  const name = host.toLowerCase();
  const short = KUBERNETES_SERVICE.exec(name)?.[1];
  return short === undefined ? [name] : [name, short];
}

/**
 * The defined host `name` refers to: the same name, else a host whose short name it is (or
 * whose FQDN it is). Several candidates make the reference ambiguous.
 */
export function resolveHost(name: string, defined: Iterable<string>): { host: string } | { ambiguous: string[] } | null {
  const wanted = name.toLowerCase();
  const all = [...defined];
  const exact = all.find((h) => h.toLowerCase() === wanted);
  if (exact !== undefined) return { host: exact };
  const mine = domainsOf(wanted);
  const candidates = all.filter((h) => domainsOf(h).includes(wanted) || mine.includes(h.toLowerCase()));
  if (candidates.length === 1 && candidates[0] !== undefined) return { host: candidates[0] };
  return candidates.length === 0 ? null : { ambiguous: candidates };
}
