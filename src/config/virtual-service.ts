// VirtualService spec (istio virtual_service.proto): routes by :path and headers to
// hosts, subsets and weights. Destinations are resolved to clusters in model.ts.
import type { MapReader } from "./reader.js";
import type { ResourceMeta } from "./resource-meta.js";
import { parseRetries } from "./retry.js";
import type { HeaderMatch, RetryPolicy, RouteMatch } from "./types.js";

export interface ParsedDestination {
  readonly host: string;
  readonly subset: string | null;
  readonly port: number | null;
  /** null = not written (a single destination then gets all traffic). */
  readonly weight: number | null;
  readonly line: number;
  readonly path: string;
}

export interface ParsedHttpRoute {
  readonly matches: readonly RouteMatch[];
  readonly destinations: readonly ParsedDestination[];
  readonly timeoutMs: number | null;
  /** undefined = not written: Istio's default policy. */
  readonly retry: RetryPolicy | undefined;
}

export interface ParsedVirtualService {
  readonly kind: "VirtualService";
  readonly meta: ResourceMeta;
  readonly hosts: readonly { readonly name: string; readonly line: number }[];
  readonly routes: readonly ParsedHttpRoute[];
}

/** Fields of an http route sluice does not look inside yet; support.ts marks them "warn". */
const OPAQUE_HTTP_FIELDS = [
  ["redirect", "map"],
  ["directResponse", "map"],
  ["delegate", "map"],
  ["rewrite", "map"],
  ["fault", "map"],
  ["mirror", "map"],
  ["mirrors", "list"],
  ["mirrorPercentage", "map"],
  ["mirrorPercent", "any"],
  ["corsPolicy", "map"],
  ["headers", "map"],
] as const;

/** Match conditions sluice does not evaluate yet (the match is then wider than written). */
const OPAQUE_MATCH_FIELDS = [
  ["scheme", "map"],
  ["method", "map"],
  ["authority", "map"],
  ["port", "any"],
  ["sourceLabels", "map"],
  ["gateways", "list"],
  ["queryParams", "map"],
  ["ignoreUriCase", "any"],
  ["withoutHeaders", "map"],
  ["sourceNamespace", "any"],
  ["statPrefix", "any"],
] as const;

export function parseVirtualService(r: MapReader, meta: ResourceMeta): ParsedVirtualService | undefined {
  const hostItems = r.stringItems("hosts");
  if (!r.has("hosts") || hostItems?.length === 0) r.error(r.has("hosts") ? "hosts" : null, "hosts is required: at least one host name");
  r.stringList("gateways");
  const routes: ParsedHttpRoute[] = [];
  for (const h of r.mapList("http")) {
    const route = parseHttpRoute(h);
    if (route !== undefined) routes.push(route);
  }
  r.opaque("tcp", "list");
  r.opaque("tls", "list");
  r.stringList("exportTo");
  r.finish();
  return { kind: "VirtualService", meta, hosts: (hostItems ?? []).map((h) => ({ name: h.value, line: h.line })), routes };
}

function parseHttpRoute(r: MapReader): ParsedHttpRoute | undefined {
  r.string("name");
  const matches: RouteMatch[] = [];
  for (const m of r.mapList("match")) {
    const match = parseMatch(m);
    if (match !== undefined) matches.push(match);
  }
  const destinations: ParsedDestination[] = [];
  for (const d of r.mapList("route")) {
    const dest = parseRouteDestination(d);
    if (dest !== undefined) destinations.push(dest);
  }
  const timeoutMs = r.duration("timeout") ?? null;
  const retry = parseRetries(r.map("retries"));
  for (const [key, shape] of OPAQUE_HTTP_FIELDS) r.opaque(key, shape);
  r.finish();
  if (!r.has("route")) {
    // A redirect, direct response or delegate stands in for a route in Istio; sluice has
    // already warned that it does not implement them, so such a route is left out.
    if (r.has("redirect") || r.has("directResponse") || r.has("delegate")) return undefined;
    r.error(null, "route is required: at least one destination");
    return undefined;
  }
  if (destinations.length > 1 && destinations.every((d) => (d.weight ?? 0) === 0)) {
    r.error("route", "the weights of several destinations must not all be 0 (unset weight counts as 0)");
  }
  return { matches, destinations, timeoutMs, retry };
}

function parseMatch(r: MapReader): RouteMatch | undefined {
  r.string("name");
  const uriReader = r.map("uri");
  const uri = uriReader === undefined ? null : parseStringMatch(uriReader);
  const headers: HeaderMatch[] = [];
  for (const { name, reader } of r.namedMaps("headers")) {
    const m = parseStringMatch(reader);
    // HTTP/2 header names are lower case on the wire.
    if (m !== undefined) headers.push({ name: name.toLowerCase(), ...m });
  }
  for (const [key, shape] of OPAQUE_MATCH_FIELDS) r.opaque(key, shape);
  r.finish();
  if (uri === undefined) return undefined;
  return { uri, headers };
}

const STRING_MATCH_KINDS = ["exact", "prefix", "regex"] as const;

function parseStringMatch(r: MapReader): { kind: "exact" | "prefix" | "regex"; value: string } | undefined {
  const values = STRING_MATCH_KINDS.map((k) => [k, r.string(k)] as const);
  r.finish();
  const set = STRING_MATCH_KINDS.filter((k) => r.has(k));
  if (set.length !== 1) {
    r.error(null, `must set exactly one of exact, prefix, regex, got ${set.length === 0 ? "none" : set.join(", ")}`);
    return undefined;
  }
  const found = values.find(([, v]) => v !== undefined);
  if (found === undefined) return undefined;
  const [kind, value] = found;
  if (value === undefined) return undefined;
  if (kind === "regex") {
    try {
      // Envoy uses RE2; JavaScript's syntax is close enough to catch typos here.
      new RegExp(value);
    } catch (e: unknown) {
      r.error("regex", `is not a valid regular expression: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  }
  return { kind, value };
}

function parseRouteDestination(r: MapReader): ParsedDestination | undefined {
  const d = r.map("destination");
  if (d === undefined) r.error(null, "destination is required");
  const host = d?.string("host", { required: true });
  const subset = d?.string("subset");
  const portReader = d?.map("port");
  const port = portReader?.int("number", { min: 1, max: 65535 }, { required: true });
  portReader?.finish();
  d?.finish();
  const weight = r.int("weight", { min: 0, max: 2_147_483_647 });
  r.opaque("headers", "map");
  r.finish();
  if (host === undefined) return undefined;
  return { host, subset: subset ?? null, port: port ?? null, weight: weight ?? null, line: d?.line ?? r.line, path: d?.path ?? r.path };
}
