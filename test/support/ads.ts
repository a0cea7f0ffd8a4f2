// sluice's ADS server as tests serve it (stopped when the test ends), stub clients of its
// services, and a raw ADS stream: DiscoveryRequests out, DiscoveryResponses in order.
import * as grpc from "@grpc/grpc-js";
import type { ProxyConfig } from "../../src/config/types.js";
import { AdsServer } from "../../src/xds-server/ads-server.js";
import { defer, type Owner } from "./teardown.js";

export interface ServedAds {
  readonly ads: AdsServer;
  readonly port: number;
  /** 127.0.0.1:PORT, as clients name the control plane. */
  readonly address: string;
}

/**
 * Serves `config` (a new AdsServer on it, or a server the test set up itself) on
 * 127.0.0.1:`port` (0: any free port); stopped when `owner` ends, if the test has not stopped it.
 */
export async function serveAds(owner: Owner, config: ProxyConfig | AdsServer, port = 0): Promise<ServedAds> {
  const ads = config instanceof AdsServer ? config : new AdsServer(config);
  defer(owner, () => ads.stop());
  const bound = await ads.start("127.0.0.1", port);
  return { ads, port: bound, address: `127.0.0.1:${bound}` };
}

/** A client of `service` (adsClientConstructor(), lrsClientConstructor()) at `address`, closed when `owner` ends. */
export function stubClient(owner: Owner, service: grpc.ServiceClientConstructor, address: string): grpc.Client {
  const client = new service(address, grpc.credentials.createInsecure());
  defer(owner, () => client.close());
  return client;
}

export interface Response {
  readonly version_info: string;
  readonly nonce: string;
  readonly type_url: string;
  readonly resources: { type_url: string; value: Buffer }[];
}

/** One ADS stream: send requests, take responses in order. */
export class RawStream {
  private readonly queue: Response[] = [];
  private readonly waiters: ((r: Response) => void)[] = [];
  readonly call: grpc.ClientDuplexStream<unknown, Response>;
  readonly ended: Promise<grpc.StatusObject>;

  constructor(client: grpc.Client, method: "StreamAggregatedResources" | "DeltaAggregatedResources" = "StreamAggregatedResources") {
    const fn = (client as unknown as Record<string, () => grpc.ClientDuplexStream<unknown, Response>>)[method];
    if (fn === undefined) throw new Error(`no ${method}`);
    this.call = fn.call(client);
    this.call.on("data", (r: Response) => {
      const w = this.waiters.shift();
      if (w !== undefined) w(r);
      else this.queue.push(r);
    });
    this.ended = new Promise((resolve) => {
      this.call.on("status", resolve);
      this.call.on("error", () => undefined); // the status carries it
    });
  }

  send(req: {
    type_url: string;
    resource_names?: string[];
    response_nonce?: string;
    version_info?: string;
    error_detail?: { code: number; message: string };
  }): void {
    this.call.write({ node: { id: "raw" }, ...req });
  }

  next(): Promise<Response> {
    const r = this.queue.shift();
    if (r !== undefined) return Promise.resolve(r);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** True when no response is queued (checked after a later response proved ordering). */
  get idle(): boolean {
    return this.queue.length === 0;
  }
}

/**
 * Points this process's @grpc/grpc-js-xds at an ADS server on 127.0.0.1:`port` (its
 * bootstrap is global: one server per process, so each such test file runs on its own).
 */
export function bootstrapGrpcJsXds(port: number, nodeId: string): void {
  process.env["GRPC_XDS_BOOTSTRAP_CONFIG"] = JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${port}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
    node: { id: nodeId, locality: {} },
  });
}
