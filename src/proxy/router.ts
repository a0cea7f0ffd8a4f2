// Routes a request by `:authority` (port stripped) to a cluster, through the virtual
// hosts built from ServiceEntry hosts and VirtualServices.
import type { Random } from "../core/random.js";
import type { HttpRoute, RetryPolicy, RouteMatch, VirtualHost } from "../config/types.js";

/** Reads a request header (lower-case name, first value). */
export type HeaderReader = (name: string) => string | undefined;

export type RouteResult =
  | { readonly kind: "cluster"; readonly cluster: string; readonly timeoutMs: number | null; readonly retry: RetryPolicy }
  | { readonly kind: "none"; readonly message: string };

const AUTHORITY_CACHE_SIZE = 1024;

export class Router {
  private readonly byDomain = new Map<string, VirtualHost>();
  private readonly fallback: VirtualHost | undefined;
  private readonly regexes = new Map<string, RegExp>();
  /** Results of single-destination routes, made once. */
  private readonly fixed = new Map<HttpRoute, RouteResult>();

  constructor(
    virtualHosts: readonly VirtualHost[],
    defaultHost: string | null,
    private readonly random: Random,
  ) {
    for (const vh of virtualHosts) {
      for (const r of vh.routes) {
        const only = r.destinations.length === 1 ? r.destinations[0] : undefined;
        if (only !== undefined) this.fixed.set(r, { kind: "cluster", cluster: only.cluster, timeoutMs: r.timeoutMs, retry: r.retry });
      }
      for (const d of vh.domains) if (!this.byDomain.has(d.toLowerCase())) this.byDomain.set(d.toLowerCase(), vh);
    }
    this.fallback = defaultHost === null ? undefined : this.byDomain.get(defaultHost.toLowerCase());
  }

  /** Authorities seen so far -> virtual host (bounded; clients reuse a handful). */
  private readonly byAuthority = new Map<string, VirtualHost | null>();

  route(authority: string, path: string, header: HeaderReader): RouteResult {
    const vh = this.virtualHost(authority);
    if (vh === null) return { kind: "none", message: `no route for authority ${authority}` };
    for (const r of vh.routes) {
      if (r.matches.length === 0 || r.matches.some((m) => this.matches(m, path, header))) {
        return this.fixed.get(r) ?? { kind: "cluster", cluster: this.pickDestination(r), timeoutMs: r.timeoutMs, retry: r.retry };
      }
    }
    return { kind: "none", message: `no route for authority ${authority} and path ${path}` };
  }

  private virtualHost(authority: string): VirtualHost | null {
    let vh = this.byAuthority.get(authority);
    if (vh === undefined) {
      vh = this.byDomain.get(stripPort(authority).toLowerCase()) ?? this.fallback ?? null;
      if (this.byAuthority.size >= AUTHORITY_CACHE_SIZE) this.byAuthority.clear();
      this.byAuthority.set(authority, vh);
    }
    return vh;
  }

  private pickDestination(r: HttpRoute): string {
    const ds = r.destinations;
    if (ds.length === 1) return ds[0]!.cluster;
    let total = 0;
    for (const d of ds) total += d.weight;
    let x = this.random() * total;
    for (const d of ds) {
      x -= d.weight;
      if (x < 0) return d.cluster;
    }
    return ds[ds.length - 1]!.cluster;
  }

  private matches(m: RouteMatch, path: string, header: HeaderReader): boolean {
    if (m.uri !== null && !this.test(m.uri.kind, m.uri.value, path)) return false;
    for (const h of m.headers) {
      const v = header(h.name);
      if (v === undefined || !this.test(h.kind, h.value, v)) return false;
    }
    return true;
  }

  private test(kind: "exact" | "prefix" | "regex", pattern: string, value: string): boolean {
    if (kind === "exact") return value === pattern;
    if (kind === "prefix") return value.startsWith(pattern);
    let re = this.regexes.get(pattern);
    if (re === undefined) {
      // Istio regexes are RE2 and match the whole value.
      re = new RegExp(`^(?:${pattern})$`);
      this.regexes.set(pattern, re);
    }
    return re.test(value);
  }
}

/** "host:port" -> "host"; "[::1]:8080" -> "::1"; a bare IPv6 address stays whole. */
export function stripPort(authority: string): string {
  if (authority.startsWith("[")) {
    const end = authority.indexOf("]");
    return end > 0 ? authority.slice(1, end) : authority;
  }
  const colon = authority.indexOf(":");
  if (colon < 0) return authority;
  if (authority.indexOf(":", colon + 1) >= 0) return authority; // bare IPv6
  return authority.slice(0, colon);
}
