// RouteConfigurations -> sluice VirtualHosts: the reverse of routeConfiguration() and
// routeEntries() in xds-server/to-xds.ts. Read the way gRPC clients read them: the route's timeout is
// max_stream_duration (Envoy's 15 s default `timeout` does not apply), retry_policy as written.
import { isDeepStrictEqual } from "node:util";
import { RETRY_CONDITIONS } from "../config/retry.js";
import type { HashKeySource, HeaderMatch, HttpRoute, RetryCondition, RetryPolicy, RouteMatch, VirtualHost, WeightedCluster } from "../config/types.js";
import { anyType, durationMs, fields, list, num, records, text, wrapped, type Fields, type Problems } from "./from-xds-fields.js";
import { TYPE_URL, unpackAny, type AnyMessage } from "../xds-proto/protos.js";
import type { XdsResources } from "./decoded-resources.js";

export interface RoutesFromXds {
  readonly virtualHosts: readonly VirtualHost[];
  /** Whether a route sends some of its requests to the `unavailable` cluster. */
  readonly usesUnavailable: boolean;
  /** The hash key the routes give each ring hash / maglev cluster, by xDS cluster name. */
  readonly hashKeys: ReadonlyMap<string, HashKeySource>;
}

/** A route without retry_policy (on it or its virtual host) is not retried. */
export const NO_RETRY: RetryPolicy = {
  attempts: 0,
  perTryTimeoutMs: null,
  retryOn: new Set(),
  retriableStatusCodes: new Set(),
  ignorePreviousHosts: false,
  backoffBaseMs: 25,
};

/** Envoy's retry back-off base interval when retry_back_off is unset. */
const ENVOY_BACKOFF_BASE_MS = 25;

/**
 * `clusterNames`: xDS cluster name -> sluice cluster name, for the clusters that mapped; a
 * destination naming another cluster (missing, or one sluice cannot use) keeps its route and
 * its share, sent to `unavailable` (a cluster with no endpoints: UNAVAILABLE "no healthy
 * upstream", as Envoy answers 503 for a cluster it does not have), with a problem.
 */
export function routesFromXds(resources: XdsResources, clusterNames: ReadonlyMap<string, string>, problems: Problems, unavailable: string): RoutesFromXds {
  const mapper = new RouteMapper(clusterNames, problems, unavailable);
  const configs: [string, Fields][] = [];
  for (const [name, rc] of resources.routes) {
    const f = fields(rc);
    if (f === undefined) problems.add(`RouteConfiguration ${name}`, "is not a message; ignored");
    else configs.push([`RouteConfiguration ${name}`, f]);
  }
  for (const [name, l] of resources.listeners) {
    const inline = fields(inlineHcm(fields(l) ?? {})?.["route_config"]);
    if (inline !== undefined) configs.push([`Listener ${name} route_config`, inline]);
  }
  const hosts: MappedHost[] = [];
  for (const [where, rc] of configs) {
    problems.unmapped(where, rc, new Set(["name", "virtual_hosts"]), new Set(["validate_clusters", "max_direct_response_body_size_bytes"]));
    for (const vh of list(rc["virtual_hosts"])) {
      const v = fields(vh);
      if (v !== undefined) hosts.push(mapper.virtualHost(v, `${where} virtual host ${text(v["name"]) ?? "(unnamed)"}`));
    }
  }
  return { virtualHosts: claimDomains(hosts, problems), hashKeys: mapper.hashKeys, usesUnavailable: mapper.usesUnavailable };
}

/** An ApiListener's HttpConnectionManager, decoded (for a route_config given inline). */
function inlineHcm(listener: Fields): Fields | undefined {
  const any = fields(fields(listener["api_listener"])?.["api_listener"]);
  const value = any?.["value"];
  if (anyType(any) !== TYPE_URL.httpConnectionManager || !(value instanceof Uint8Array)) return undefined;
  try {
    return unpackAny({ type_url: TYPE_URL.httpConnectionManager, value } satisfies AnyMessage);
  } catch {
    return undefined;
  }
}

interface Domain {
  /** Lower case, port stripped, as sluice's router looks `:authority` up. */
  readonly host: string;
  readonly withPort: boolean;
}

interface MappedHost {
  readonly where: string;
  readonly domains: readonly Domain[];
  readonly routes: readonly HttpRoute[];
}

/**
 * sluice routes by host name, port stripped. A name given bare wins over the same name given
 * with a port (istiod-style `echo:8080` next to `echo`: both reach `echo`'s routes, as a
 * sluice proxy configured from files routes them); two virtual hosts claiming one name at the
 * same level is a conflict, and the first keeps it.
 */
function claimDomains(hosts: readonly MappedHost[], problems: Problems): VirtualHost[] {
  // A virtual host left with no route claims no domain: it would shadow another's routes for it.
  const routed: MappedHost[] = [];
  for (const h of hosts) {
    if (h.routes.length > 0) routed.push(h);
    else if (h.domains.length > 0)
      problems.add(h.where, `has no route sluice can use; its domains (${h.domains.map((d) => d.host).join(", ")}) are left to other virtual hosts`);
  }
  const owner = new Map<string, { readonly host: MappedHost; readonly withPort: boolean }>();
  for (const withPort of [false, true]) {
    for (const h of routed) {
      for (const d of h.domains) {
        if (d.withPort !== withPort) continue;
        const prior = owner.get(d.host);
        if (prior === undefined) owner.set(d.host, { host: h, withPort });
        else if (prior.host !== h && prior.withPort === withPort && !isDeepStrictEqual(prior.host.routes, h.routes)) {
          problems.add(h.where, `domain ${d.host} is already routed by ${prior.host.where}; that one is used`);
        }
      }
    }
  }
  const out: VirtualHost[] = [];
  for (const h of routed) {
    const domains = [...new Set(h.domains.filter((d) => owner.get(d.host)?.host === h).map((d) => d.host))];
    if (domains.length > 0) out.push({ domains, routes: h.routes });
  }
  return out;
}

/** `host`, `host:port`, `[v6]`, `[v6]:port`, lower-cased; undefined for wildcards. */
function parseDomain(d: string): Domain | undefined {
  const name = d.toLowerCase();
  if (name === "" || name.includes("*")) return undefined;
  if (name.startsWith("[")) {
    const end = name.indexOf("]");
    if (end < 0) return { host: name, withPort: false };
    return { host: name.slice(1, end), withPort: /^:\d+$/.test(name.slice(end + 1)) };
  }
  const m = /^([^:]+):(\d+)$/.exec(name);
  return m?.[1] === undefined ? { host: name, withPort: false } : { host: m[1], withPort: true };
}

const VH_KNOWN: ReadonlySet<string> = new Set(["name", "domains", "routes", "retry_policy"]);
const VH_IGNORED: ReadonlySet<string> = new Set(["per_request_buffer_limit_bytes", "metadata"]);
const ROUTE_KNOWN: ReadonlySet<string> = new Set(["match", "route"]);
const ROUTE_IGNORED: ReadonlySet<string> = new Set(["name", "metadata", "decorator", "stat_prefix", "tracing"]);
const ACTION_KNOWN: ReadonlySet<string> = new Set(["cluster", "weighted_clusters", "max_stream_duration", "timeout", "retry_policy", "hash_policy"]);
const ACTION_IGNORED: ReadonlySet<string> = new Set([
  "cluster_not_found_response_code",
  "priority",
  "auto_host_rewrite",
  "max_grpc_timeout",
  "grpc_timeout_offset",
]);
/** Actions that send a request nowhere sluice can: the route is dropped. */
const OTHER_ACTIONS = ["redirect", "direct_response", "filter_action", "non_forwarding_action"];
const OTHER_SPECIFIERS = ["cluster_header", "cluster_specifier_plugin", "inline_cluster_specifier_plugin"];

class RouteMapper {
  readonly hashKeys = new Map<string, HashKeySource>();
  usesUnavailable = false;

  constructor(
    private readonly clusterNames: ReadonlyMap<string, string>,
    private readonly problems: Problems,
    private readonly unavailable: string,
  ) {}

  virtualHost(v: Fields, where: string): MappedHost {
    this.problems.unmapped(where, v, VH_KNOWN, VH_IGNORED);
    const domains: Domain[] = [];
    for (const raw of list(v["domains"])) {
      const d = parseDomain(text(raw) ?? "");
      if (d === undefined) this.problems.add(where, `domain ${JSON.stringify(raw)}: wildcard domains are not supported (use --default-host); ignored`);
      else domains.push(d);
    }
    const vhRetry = fields(v["retry_policy"]);
    const routes: HttpRoute[] = [];
    list(v["routes"]).forEach((raw, i) => {
      const r = fields(raw);
      const route = r === undefined ? undefined : this.route(r, vhRetry, `${where} route ${i}`);
      if (route === undefined) return;
      // Envoy routes made from one VirtualService route with several matches come back as one.
      const last = routes.at(-1);
      if (last !== undefined && isDeepStrictEqual({ ...last, matches: [] }, { ...route, matches: [] })) {
        routes[routes.length - 1] = { ...last, matches: last.matches.length === 0 || route.matches.length === 0 ? [] : [...last.matches, ...route.matches] };
      } else {
        routes.push(route);
      }
    });
    return { where, domains, routes };
  }

  private route(r: Fields, vhRetry: Fields | undefined, where: string): HttpRoute | undefined {
    const other = OTHER_ACTIONS.find((a) => r[a] !== undefined);
    if (other !== undefined) return this.drop(where, `the ${other} action is not supported`);
    this.problems.unmapped(where, r, ROUTE_KNOWN, ROUTE_IGNORED);
    const match = matchFromXds(fields(r["match"]) ?? {});
    if (typeof match === "string") return this.drop(where, match);
    const action = fields(r["route"]);
    if (action === undefined) return this.drop(where, "it has no route action");
    const specifier = OTHER_SPECIFIERS.find((a) => action[a] !== undefined);
    if (specifier !== undefined) return this.drop(where, `route.${specifier} is not supported`);
    this.problems.unmapped(`${where} action`, action, ACTION_KNOWN, ACTION_IGNORED);
    const targets = this.destinations(action, where);
    if (targets.length === 0) return this.drop(where, "it has no cluster with a weight above 0");
    this.hashPolicy(action, targets, where);
    return {
      matches: match === null ? [] : [match],
      destinations: targets.map((t) => ({ cluster: t.cluster, weight: t.weight })),
      timeoutMs: timeoutFromXds(action),
      retry: retryFromXds(fields(action["retry_policy"]) ?? vhRetry, `${where} retry_policy`, this.problems),
    };
  }

  private drop(where: string, why: string): undefined {
    this.problems.add(where, `${why}; the route is dropped`);
    return undefined;
  }

  private destinations(action: Fields, where: string): (WeightedCluster & { readonly xds: string })[] {
    const single = text(action["cluster"]);
    const entries =
      single !== undefined
        ? [{ name: single, weight: 100 }]
        : list(fields(action["weighted_clusters"])?.["clusters"]).flatMap((raw) => {
            const w = fields(raw);
            if (w === undefined) return [];
            this.problems.unmapped(`${where} weighted cluster`, w, new Set(["name", "weight"]));
            return [{ name: text(w["name"]) ?? "", weight: wrapped(w["weight"]) ?? 0 }];
          });
    let total = 0;
    for (const e of entries) if (e.weight > 0) total += e.weight;
    const out: (WeightedCluster & { readonly xds: string })[] = [];
    for (const e of entries) {
      if (e.weight <= 0) continue;
      const cluster = this.clusterNames.get(e.name);
      if (cluster !== undefined) {
        out.push({ cluster, weight: e.weight, xds: e.name });
        continue;
      }
      const share = e.weight === total ? "its requests" : `its share (${e.weight} of ${total})`;
      this.problems.add(where, `cluster ${JSON.stringify(e.name)} is not available; ${share} get UNAVAILABLE (no healthy upstream)`);
      this.usesUnavailable = true;
      const prior = out.find((t) => t.cluster === this.unavailable);
      if (prior === undefined) out.push({ cluster: this.unavailable, weight: e.weight, xds: "" });
      else out[out.indexOf(prior)] = { ...prior, weight: prior.weight + e.weight };
    }
    return out;
  }

  /** The first hash_policy entry sluice can hash on keys every cluster of the route. */
  private hashPolicy(action: Fields, targets: readonly { readonly xds: string }[], where: string): void {
    const policies = records(action["hash_policy"]);
    if (policies.length === 0) return;
    const keys = policies.map(hashKeyFromXds);
    const key = keys.find((k): k is HashKeySource => k !== undefined);
    if (key === undefined) this.problems.add(where, "hash_policy: no entry is supported (header, cookie, connection_properties.source_ip, query_parameter)");
    else if (keys.length > 1) this.problems.add(where, "hash_policy: only the first supported entry is used");
    if (key === undefined) return;
    for (const t of targets) {
      if (t.xds === "") continue; // the unavailable placeholder
      const prior = this.hashKeys.get(t.xds);
      if (prior === undefined) this.hashKeys.set(t.xds, key);
      else if (!isDeepStrictEqual(prior, key))
        this.problems.add(where, `cluster ${t.xds} is hashed on another key by an earlier route; sluice keeps one key per cluster (the first)`);
    }
  }
}

function hashKeyFromXds(p: Fields): HashKeySource | undefined {
  const header = fields(p["header"]);
  if (header !== undefined && header["regex_rewrite"] === undefined) {
    const name = text(header["header_name"]);
    return name === undefined || name === "" ? undefined : { kind: "header", name: name.toLowerCase() };
  }
  const cookie = fields(p["cookie"]);
  if (cookie !== undefined) {
    const name = text(cookie["name"]);
    return name === undefined ? undefined : { kind: "cookie", name, path: text(cookie["path"]) ?? "", ttlMs: durationMs(cookie["ttl"]) ?? 0 };
  }
  if (fields(p["connection_properties"])?.["source_ip"] === true) return { kind: "sourceIp" };
  const query = text(fields(p["query_parameter"])?.["name"]);
  return query === undefined ? undefined : { kind: "queryParameter", name: query };
}

/** max_stream_duration, or a set `timeout`, whichever is shorter; null = none. */
function timeoutFromXds(action: Fields): number | null {
  const candidates = [durationMs(fields(action["max_stream_duration"])?.["max_stream_duration"]), durationMs(action["timeout"])].filter(
    (ms): ms is number => ms !== undefined && ms > 0,
  );
  return candidates.length === 0 ? null : Math.min(...candidates);
}

const MATCH_KNOWN = new Set(["prefix", "path", "safe_regex", "headers", "grpc", "case_sensitive"]);

/** null = matches every request; a string = why the match cannot be expressed in sluice. */
function matchFromXds(m: Fields): RouteMatch | null | string {
  const unknown = Object.keys(m).find((k) => !MATCH_KNOWN.has(k));
  if (unknown !== undefined) return `match.${unknown} is not supported`;
  if (wrapped(m["case_sensitive"]) === 0) return "a case-insensitive match is not supported";
  let uri: RouteMatch["uri"] = null;
  const prefix = text(m["prefix"]);
  const path = text(m["path"]);
  const regex = text(fields(m["safe_regex"])?.["regex"]);
  if (path !== undefined) uri = { kind: "exact", value: path };
  else if (regex !== undefined) uri = { kind: "regex", value: regex };
  else if (prefix !== undefined && prefix !== "") uri = { kind: "prefix", value: prefix };
  else if (prefix === undefined) return "a match without prefix, path or safe_regex is not supported";
  if (uri?.kind === "regex" && !validRegex(uri.value)) return `match.safe_regex ${JSON.stringify(uri.value)} is not a valid regular expression`;
  const headers: HeaderMatch[] = [];
  for (const raw of list(m["headers"])) {
    const h = headerMatchFromXds(fields(raw) ?? {});
    if (typeof h === "string") return h;
    headers.push(h);
  }
  return uri === null && headers.length === 0 ? null : { uri, headers };
}

function headerMatchFromXds(h: Fields): HeaderMatch | string {
  const name = text(h["name"])?.toLowerCase();
  if (name === undefined || name === "") return "a header match without a name";
  const sm = fields(h["string_match"]);
  let kind: HeaderMatch["kind"] | undefined;
  let value: string | undefined;
  if (sm !== undefined) {
    if (sm["ignore_case"] === true) return `header ${name}: ignore_case is not supported`;
    for (const k of ["exact", "prefix"] as const) {
      if (text(sm[k]) !== undefined) [kind, value] = [k, text(sm[k])];
    }
    const re = text(fields(sm["safe_regex"])?.["regex"]);
    if (re !== undefined) [kind, value] = ["regex", re];
  } else if (text(h["exact_match"]) !== undefined) [kind, value] = ["exact", text(h["exact_match"])];
  else if (text(h["prefix_match"]) !== undefined) [kind, value] = ["prefix", text(h["prefix_match"])];
  else if (text(fields(h["safe_regex_match"])?.["regex"]) !== undefined) [kind, value] = ["regex", text(fields(h["safe_regex_match"])?.["regex"])];
  const extra = Object.keys(h).find(
    (k) => !["name", "string_match", "exact_match", "prefix_match", "safe_regex_match"].includes(k) && !(k === "invert_match" && h[k] === false),
  );
  if (extra !== undefined) return `header ${name}: ${extra} is not supported`;
  if (kind === undefined || value === undefined) return `header ${name}: only exact, prefix and safe_regex matches are supported`;
  if (kind === "regex" && !validRegex(value)) return `header ${name}: ${JSON.stringify(value)} is not a valid regular expression`;
  return { name, kind, value };
}

function validRegex(pattern: string): boolean {
  try {
    new RegExp(`^(?:${pattern})$`);
    return true;
  } catch {
    return false;
  }
}

const RETRY_KNOWN = new Set(["retry_on", "num_retries", "per_try_timeout", "retry_back_off", "retriable_status_codes", "retry_host_predicate"]);

function retryFromXds(p: Fields | undefined, where: string, problems: Problems): RetryPolicy {
  if (p === undefined) return NO_RETRY;
  problems.unmapped(where, p, RETRY_KNOWN, new Set(["host_selection_retry_max_attempts"]));
  const retryOn = new Set<RetryCondition>();
  for (const raw of (text(p["retry_on"]) ?? "").split(",")) {
    const c = raw.trim();
    if (c === "") continue;
    if ((RETRY_CONDITIONS as readonly string[]).includes(c)) retryOn.add(c as RetryCondition);
    else problems.add(where, `retry_on ${c} is not supported; ignored`);
  }
  if (retryOn.size === 0) return NO_RETRY;
  const codes = new Set(list(p["retriable_status_codes"]).flatMap((c) => num(c) ?? []));
  const predicates = list(p["retry_host_predicate"]).map((x) => text(fields(x)?.["name"]));
  const backoff = fields(p["retry_back_off"]);
  const base = durationMs(backoff?.["base_interval"]);
  return {
    // Envoy: a retry_policy without num_retries retries once.
    attempts: wrapped(p["num_retries"]) ?? 1,
    perTryTimeoutMs: nonZero(durationMs(p["per_try_timeout"])),
    retryOn,
    retriableStatusCodes: codes,
    ignorePreviousHosts: predicates.includes("envoy.retry_host_predicates.previous_hosts"),
    backoffBaseMs: base === undefined || base === 0 ? ENVOY_BACKOFF_BASE_MS : base,
  };
}

function nonZero(ms: number | undefined): number | null {
  return ms === undefined || ms === 0 ? null : ms;
}
