// DestinationRule trafficPolicy.loadBalancer (istio LoadBalancerSettings).
import { DEFAULT_LOAD_BALANCER, DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_MINIMUM_RING_SIZE, isPrime, MAX_MAGLEV_TABLE_SIZE, MAX_RING_SIZE } from "./limits.js";
import type { MapReader } from "./reader.js";
import type { HashAlgorithm, HashKeySource, LoadBalancerSettings, SimpleLb } from "./types.js";

export const SIMPLE_LB_NAMES = ["UNSPECIFIED", "LEAST_CONN", "ROUND_ROBIN", "RANDOM", "PASSTHROUGH", "LEAST_REQUEST"] as const;

/** Returns undefined when a problem was reported (the caller then builds no config). */
export function parseLoadBalancer(r: MapReader): LoadBalancerSettings | undefined {
  const simple = r.enumOf("simple", SIMPLE_LB_NAMES);
  const hash = r.map("consistentHash");
  parseLocality(r.map("localityLbSetting"));
  r.duration("warmupDurationSecs");
  parseWarmup(r.map("warmup"));
  r.finish();

  if (r.has("simple") && r.has("consistentHash")) {
    r.error(null, "set either simple or consistentHash, not both");
    return undefined;
  }
  if (hash !== undefined) return parseConsistentHash(hash);
  if (simple === undefined) return r.has("simple") ? undefined : DEFAULT_LOAD_BALANCER;
  if (simple === "LEAST_CONN") {
    r.warn("simple", "LEAST_CONN is a deprecated alias of LEAST_REQUEST (as in Istio); sluice uses LEAST_REQUEST");
  }
  return { kind: "simple", policy: normalizeSimple(simple) };
}

/** Istio maps both LEAST_CONN and UNSPECIFIED to Envoy's LEAST_REQUEST. */
function normalizeSimple(name: (typeof SIMPLE_LB_NAMES)[number]): SimpleLb {
  return name === "LEAST_CONN" || name === "UNSPECIFIED" ? "LEAST_REQUEST" : name;
}

const HASH_KEYS = ["httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName"] as const;
const HASH_ALGORITHMS = ["ringHash", "maglev", "minimumRingSize"] as const;

function parseConsistentHash(r: MapReader): LoadBalancerSettings | undefined {
  const header = r.string("httpHeaderName");
  const cookieReader = r.map("httpCookie");
  const sourceIp = r.bool("useSourceIp");
  const query = r.string("httpQueryParameterName");
  const cookie = cookieReader === undefined ? undefined : parseCookie(cookieReader);
  const ring = r.map("ringHash");
  const ringSize = ring?.int("minimumRingSize", { min: 0, max: MAX_RING_SIZE });
  ring?.finish();
  const maglev = r.map("maglev");
  const tableSize = maglev?.int("tableSize", { min: 0, max: MAX_MAGLEV_TABLE_SIZE });
  if (tableSize !== undefined && tableSize !== 0 && !isPrime(tableSize)) {
    maglev?.error("tableSize", `must be a prime number, got ${tableSize}`);
  }
  maglev?.finish();
  const legacyRingSize = r.int("minimumRingSize", { min: 0, max: MAX_RING_SIZE });
  if (r.has("minimumRingSize")) r.warn("minimumRingSize", "deprecated: use ringHash.minimumRingSize");
  r.finish();

  // useSourceIp: false selects nothing, like an unset oneof member.
  const keysSet = HASH_KEYS.filter((k) => r.has(k) && !(k === "useSourceIp" && sourceIp === false));
  if (keysSet.length !== 1) {
    r.error(null, `must set exactly one hash key of ${HASH_KEYS.join(", ")}, got ${keysSet.length === 0 ? "none" : keysSet.join(", ")}`);
    return undefined;
  }
  const algorithmsSet = HASH_ALGORITHMS.filter((k) => r.has(k));
  if (algorithmsSet.length > 1) {
    r.error(null, `set at most one of ${HASH_ALGORITHMS.join(", ")}, got ${algorithmsSet.join(", ")}`);
    return undefined;
  }

  let key: HashKeySource | undefined;
  if (header !== undefined) key = { kind: "header", name: header.toLowerCase() };
  else if (cookie !== undefined) key = cookie;
  else if (sourceIp === true) key = { kind: "sourceIp" };
  else if (query !== undefined) key = { kind: "queryParameter", name: query };
  if (key === undefined) return undefined;

  let algorithm: HashAlgorithm;
  if (maglev !== undefined) {
    algorithm = { kind: "maglev", tableSize: tableSize === undefined || tableSize === 0 ? DEFAULT_MAGLEV_TABLE_SIZE : tableSize };
  } else {
    const size = ringSize ?? legacyRingSize;
    algorithm = { kind: "ringHash", minimumRingSize: size === undefined || size === 0 ? DEFAULT_MINIMUM_RING_SIZE : size };
  }
  return { kind: "consistentHash", key, algorithm };
}

function parseCookie(r: MapReader): HashKeySource | undefined {
  const name = r.string("name", { required: true });
  const path = r.string("path") ?? "";
  // Envoy: no ttl = do not generate the cookie; 0 stands for that in the model.
  const ttlMs = r.duration("ttl") ?? 0;
  r.finish();
  return name === undefined ? undefined : { kind: "cookie", name, path, ttlMs };
}

function parseLocality(r: MapReader | undefined): void {
  if (r === undefined) return;
  r.bool("enabled");
  for (const d of r.mapList("distribute")) {
    d.string("from");
    d.scalarMap("to", (v): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 100, "an integer percentage from 0 to 100");
    d.finish();
  }
  for (const f of r.mapList("failover")) {
    f.string("from");
    f.string("to");
    f.finish();
  }
  r.stringList("failoverPriority");
  r.finish();
}

function parseWarmup(r: MapReader | undefined): void {
  if (r === undefined) return;
  r.duration("duration");
  r.percent("minimumPercent");
  r.number("aggression", { min: 1 });
  r.finish();
}
