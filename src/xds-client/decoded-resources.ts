// The decoded view of a set of xDS resources as a client holds them: each resource decoded
// from its google.protobuf.Any with unpackAny() (plain objects, field names as in the .proto,
// enums by name, longs as numbers). Written by the ADS client, read by the mapping back into
// sluice's config model (the proxy's --xds mode and the sluice:/// resolver).

export type DecodedResource = Readonly<Record<string, unknown>>;

export interface XdsResources {
  /** Listener by name. */
  readonly listeners: ReadonlyMap<string, DecodedResource>;
  /** RouteConfiguration by name. */
  readonly routes: ReadonlyMap<string, DecodedResource>;
  /** Cluster by name. */
  readonly clusters: ReadonlyMap<string, DecodedResource>;
  /** ClusterLoadAssignment by cluster_name. */
  readonly endpoints: ReadonlyMap<string, DecodedResource>;
}
