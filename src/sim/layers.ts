// The balancing layers a simulation can put between clients and backends. Each runs sluice's
// own code on the virtual clock: a ClusterRuntime (the proxy's cluster: policy from
// src/balancer, health, panic, outlier detection) and, in connection mode, the proxy's
// ConnectionPins (pinning and maxRequestsPerConnection cycling). Only what happens on the
// wire is modelled: connections take connectMs to open, backends take their service time.
import { registerBuiltins } from "../balancer/registry.js";
import type { Balancing, SimContext } from "./layer.js";
import { ClientLayer } from "./layer-client.js";
import { L4Layer } from "./layer-l4.js";
import { ProxyConnectionLayer, ProxyRequestLayer } from "./layer-proxy.js";
import type { Layer } from "./scenario.js";

export function createBalancing(layer: Layer, ctx: SimContext): Balancing {
  registerBuiltins();
  switch (layer) {
    case "proxy-request":
      return new ProxyRequestLayer(ctx);
    case "proxy-connection":
      return new ProxyConnectionLayer(ctx);
    case "l4":
      return new L4Layer(ctx);
    case "client":
      return new ClientLayer(ctx);
  }
}
