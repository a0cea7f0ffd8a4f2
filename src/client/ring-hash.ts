// `ring_hash` for grpc-js without xDS (gRFC A42 ring, A76 request_hash_header) on sluice's
// ring hash (src/balancer/ring-hash.ts), keyed on one request metadata header.
//
//   loadBalancingConfig: [{ ring_hash: { requestHashHeader: "x-user", minRingSize: 1024, maxRingSize: 4096 } }]
//
// A call whose header is missing or empty goes to a random endpoint (A76). Several values
// are joined with "," before hashing (A76). The header must be a valid, non-binary
// metadata key (A76 rejects "-bin" keys). Sizes default to Envoy's and A42's 1024 and 8M, and
// both are capped at 4096, gRPC's default ring_size_cap.
//
// Differences from grpc's own ring_hash: this one keeps every endpoint connected (like
// least_request) instead of connecting lazily on picks, and builds the ring over the READY
// endpoints, as Envoy builds it over healthy hosts (A42 keeps every endpoint on the ring
// and walks past unusable ones). So when an endpoint goes down its keys move, and because
// each remaining endpoint then gets more ring entries, a few other keys move too. It
// hashes with sluice's hash32, not XXH64, so a key may land on a different backend than
// in grpc-go or grpc-java. Without xDS there is no route hash policy, so
// requestHashHeader is required here.
import * as grpc from "@grpc/grpc-js";
import { DEFAULT_MINIMUM_RING_SIZE, MAXIMUM_RING_SIZE, ringHashPolicy } from "../balancer/ring-hash.js";
import type { PolicyDeps, PolicyFactory } from "../balancer/types.js";
import { FieldReader } from "./config-fields.js";
import { endpointBalancerType, type EndpointPolicyConfig } from "./endpoint-balancer.js";

export const RING_HASH = "ring_hash";

/** gRPC's default grpc.lb.ring_hash.ring_size_cap (gRFC A42): no ring larger than this. */
export const RING_SIZE_CAP = 4096;

const METADATA_KEY = /^[0-9a-z_.-]+$/;

/** Why `name` cannot be a request hash header, or undefined if it can. */
export function checkHashHeader(name: string): string | undefined {
  if (name === "") return "must name a metadata key";
  if (!METADATA_KEY.test(name.toLowerCase())) return "must be a metadata key (letters, digits, '_', '.', '-'; no pseudo-headers)";
  if (name.toLowerCase().endsWith("-bin")) return "must not be a binary (-bin) header";
  return undefined;
}

/** A validated ring_hash config (immutable); the header is lower-case. */
export class RingHashConfig implements EndpointPolicyConfig {
  constructor(
    readonly requestHashHeader: string,
    readonly minRingSize: number = DEFAULT_MINIMUM_RING_SIZE,
    readonly maxRingSize: number = MAXIMUM_RING_SIZE,
  ) {}

  getLoadBalancerName(): string {
    return RING_HASH;
  }

  toJsonObject(): object {
    return { [RING_HASH]: { requestHashHeader: this.requestHashHeader, minRingSize: this.minRingSize, maxRingSize: this.maxRingSize } };
  }

  createPolicy(deps: PolicyDeps): PolicyFactory {
    // The ring is rebuilt on the event loop whenever the READY set changes: gRPC caps both
    // sizes at its ring_size_cap (4096) for that reason, and so does sluice.
    return ringHashPolicy(deps, {
      key: { kind: "header", name: this.requestHashHeader },
      minimumRingSize: Math.min(this.minRingSize, RING_SIZE_CAP),
      maximumRingSize: Math.min(this.maxRingSize, RING_SIZE_CAP),
    });
  }

  static createFromJson(json: unknown): RingHashConfig {
    const fields = new FieldReader(RING_HASH, json, ["minRingSize", "maxRingSize", "requestHashHeader"]);
    const minRingSize = fields.integer("minRingSize", 1, MAXIMUM_RING_SIZE, DEFAULT_MINIMUM_RING_SIZE);
    const maxRingSize = fields.integer("maxRingSize", 1, MAXIMUM_RING_SIZE, MAXIMUM_RING_SIZE);
    const header = fields.string("requestHashHeader", checkHashHeader);
    if (minRingSize > maxRingSize) fields.problem(`minRingSize (${minRingSize}) must not exceed maxRingSize (${maxRingSize})`);
    fields.require("requestHashHeader", 'without xDS, the ring is keyed on a metadata header (gRFC A76), e.g. "x-user"');
    fields.done();
    return new RingHashConfig((header ?? "").toLowerCase(), minRingSize, maxRingSize);
  }
}

export function registerRingHash(): void {
  grpc.experimental.registerLoadBalancerType(RING_HASH, endpointBalancerType(RING_HASH), RingHashConfig);
}
