// The xDS .proto definitions, loaded once and lazily from @grpc/grpc-js-xds's deps/ (the
// repo carries no copies). Two views of them: proto-loader's service definition for the ADS
// server, and a protobufjs Root that encodes resources into google.protobuf.Any. Only the
// files the control plane needs are loaded, so the first use costs ~100 ms, not the whole API.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import protobuf from "protobufjs";
import * as protoLoader from "@grpc/proto-loader";
import * as grpc from "@grpc/grpc-js";
import { ProtoMissingError } from "../core/errors.js";

const require = createRequire(import.meta.url);

function depsDir(): string {
  const pkg = require.resolve("@grpc/grpc-js-xds/package.json");
  return path.join(path.dirname(pkg), "deps");
}

function includeDirs(): string[] {
  const deps = depsDir();
  return ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => path.join(deps, d));
}

/** Files whose messages sluice encodes as resources (each pulls in what it imports). */
const RESOURCE_FILES = [
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto",
  "envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto",
  "envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
];

export const TYPE_URL = {
  listener: "type.googleapis.com/envoy.config.listener.v3.Listener",
  route: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
  cluster: "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  endpoint: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
  httpConnectionManager: "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
  router: "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
  leastRequest: "type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest",
  roundRobin: "type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin",
  wrrLocality: "type.googleapis.com/envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality",
  httpProtocolOptions: "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
  previousHosts: "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate",
  upstreamTlsContext: "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
} as const;

/**
 * The four resource kinds the control plane serves and the ADS client follows, in dependency
 * order: a referenced type after the type that references it (the client subscribes in it).
 */
export const RESOURCE_TYPES = [TYPE_URL.listener, TYPE_URL.route, TYPE_URL.cluster, TYPE_URL.endpoint] as const;

/** The largest uint32 (google.protobuf.UInt32Value): Envoy's and Istio's "unlimited" for UInt32 thresholds. */
export const UINT32_MAX = 4294967295;

/** google.protobuf.Any as it travels: the message's full type URL and its encoded bytes. */
export interface AnyMessage {
  readonly type_url: string;
  readonly value: Uint8Array;
}

let root: protobuf.Root | undefined;

function resourceRoot(): protobuf.Root {
  if (root !== undefined) return root;
  const dirs = includeDirs();
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => {
    for (const d of dirs) {
      const candidate = path.join(d, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    // google/protobuf/*.proto: protobufjs's bundled well-known types answer these names.
    return target;
  };
  r.loadSync(RESOURCE_FILES, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

function typeOf(typeUrl: string): protobuf.Type {
  return resourceRoot().lookupType(typeUrl.slice(typeUrl.lastIndexOf("/") + 1));
}

/**
 * Encodes a plain object (snake_case field names, as in the .proto; enums by name) as an
 * Any of `typeUrl`. protobufjs's fromObject ignores unknown fields, so the unit tests decode
 * every resource kind back and check its fields.
 */
export function packAny(typeUrl: string, message: Record<string, unknown>): AnyMessage {
  const type = typeOf(typeUrl);
  return { type_url: typeUrl, value: type.encode(type.fromObject(message)).finish() };
}

/** Decodes an Any back into a plain object (longs as numbers, enums as names): for tests and debugging. */
export function unpackAny(any: AnyMessage): Record<string, unknown> {
  const type = typeOf(any.type_url);
  return type.toObject(type.decode(any.value), { longs: Number, enums: String, defaults: false });
}

const packages = new Map<string, grpc.GrpcObject>();

function loadService(file: string, name: string): grpc.ServiceClientConstructor {
  let pkg = packages.get(file);
  if (pkg === undefined) {
    const def = protoLoader.loadSync(file, {
      keepCase: true,
      longs: String,
      enums: String,
      defaults: true,
      oneofs: true,
      includeDirs: includeDirs(),
    });
    pkg = grpc.loadPackageDefinition(def);
    packages.set(file, pkg);
  }
  return lookup(pkg, name);
}

const ADS = ["envoy/service/discovery/v3/ads.proto", "envoy.service.discovery.v3.AggregatedDiscoveryService"] as const;
const LRS = ["envoy/service/load_stats/v3/lrs.proto", "envoy.service.load_stats.v3.LoadReportingService"] as const;

/** The ADS service definition (envoy.service.discovery.v3.AggregatedDiscoveryService). */
export function adsServiceDefinition(): grpc.ServiceDefinition {
  return loadService(...ADS).service;
}

/** A client constructor for the ADS service (tests drive the server with it). */
export function adsClientConstructor(): grpc.ServiceClientConstructor {
  return loadService(...ADS);
}

/** The load reporting service (envoy.service.load_stats.v3.LoadReportingService, StreamLoadStats). */
export function lrsServiceDefinition(): grpc.ServiceDefinition {
  return loadService(...LRS).service;
}

/** A client constructor for the LRS service (tests send reports with it). */
export function lrsClientConstructor(): grpc.ServiceClientConstructor {
  return loadService(...LRS);
}

function lookup(pkg: grpc.GrpcObject, name: string): grpc.ServiceClientConstructor {
  let node: unknown = pkg;
  for (const part of name.split(".")) {
    if (typeof node !== "object" && typeof node !== "function") throw new ProtoMissingError(`${name} not found in the xDS protos`);
    node = (node as Record<string, unknown>)[part];
  }
  if (typeof node !== "function" || !("service" in node)) throw new ProtoMissingError(`${name} is not a service`);
  return node as grpc.ServiceClientConstructor;
}
