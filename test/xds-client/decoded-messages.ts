// Hand-written decoded xDS messages (as the ADS client hands them on) for the configFromXds()
// tests: STATIC clusters with inline endpoints, one RouteConfiguration of virtual hosts.
import type { XdsResources } from "../../src/xds-client/decoded-resources.js";

export type Msg = Record<string, unknown>;

export function endpoint(port: number, weight?: number): Msg {
  return {
    endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } },
    ...(weight === undefined ? {} : { load_balancing_weight: { value: weight } }),
  };
}

export function staticCluster(name: string, extra: Msg = {}, endpoints: Msg[] = [endpoint(7001)]): [string, Msg] {
  return [name, { name, type: "STATIC", load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: endpoints }] }, ...extra }];
}

/** The clusters, a RouteConfiguration "rc" with `virtualHosts`, and ClusterLoadAssignments `endpoints`. */
export function xdsResources(clusters: [string, Msg][], virtualHosts: Msg[] = [], endpoints: [string, Msg][] = []): XdsResources {
  return {
    listeners: new Map(),
    routes: new Map([["rc", { name: "rc", virtual_hosts: virtualHosts }]]),
    clusters: new Map(clusters),
    endpoints: new Map(endpoints),
  };
}

export const route = (prefix: string, action: Msg): Msg => ({ match: { prefix }, route: action });
