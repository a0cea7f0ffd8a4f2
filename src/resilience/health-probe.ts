// One endpoint's grpc.health.v1.Health client: Check and Watch calls over a grpc-js channel
// of its own, apart from the data path's connections (as Envoy's health checker keeps its
// own connection per host). The proto and its (de)serializers come from the official
// grpc-health-check package; this file only issues calls and reports how they ended.
import { isIP } from "node:net";
import { checkServerIdentity, type UpstreamTlsContext } from "../transport/tls/client-tls.js";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { ProtoMissingError } from "../core/errors.js";

/** HealthCheckResponse.ServingStatus as the package decodes it (enum names). */
export type ServingStatus = "UNKNOWN" | "SERVING" | "NOT_SERVING" | "SERVICE_UNKNOWN";

/** How a Check ended: the server's answer, or the call's status when there was none. */
export type CheckEnd =
  { readonly kind: "answer"; readonly status: ServingStatus } | { readonly kind: "error"; readonly code: grpc.status; readonly details: string };

export interface WatchHandlers {
  /** Each message on the stream: the first is the current status, then every change. */
  onStatus(status: ServingStatus): void;
  /** The stream is over (the server ended it, or it failed); never after cancel. */
  onEnd(code: grpc.status, details: string): void;
}

export interface HealthProbeOptions {
  readonly serviceName: string;
  /** grpc-js channel options (keepalive, reconnect backoff). */
  readonly channelOptions?: grpc.ChannelOptions;
  /** TLS as the cluster's RPCs have it (its secure context, SNI and server identity check); absent: plaintext. */
  readonly tls?: UpstreamTlsContext | undefined;
}

const CHECK = method("Check");
const WATCH = method("Watch");

function method(name: string): grpc.MethodDefinition<object, object> {
  const m = healthService[name];
  if (m === undefined) throw new ProtoMissingError(`grpc-health-check has no grpc.health.v1.Health/${name}`);
  return m;
}

function servingStatus(response: object | undefined): ServingStatus {
  const s = (response as { status?: unknown } | undefined)?.status;
  return s === "SERVING" || s === "NOT_SERVING" || s === "SERVICE_UNKNOWN" ? s : "UNKNOWN";
}

/** Stops a call in flight; its callbacks do not run afterwards. */
export type Cancel = () => void;

export class HealthProbe {
  private readonly client: grpc.Client;

  /** @param target `address:port`, `[v6]:port` for IPv6 (an endpoint key). */
  constructor(
    readonly target: string,
    private readonly options: HealthProbeOptions,
  ) {
    const tls = options.tls;
    const credentials =
      tls === undefined
        ? grpc.credentials.createInsecure()
        : grpc.credentials.createFromSecureContext(tls.secureContext, {
            rejectUnauthorized: !tls.insecureSkipVerify,
            checkServerIdentity: (_host, cert) => checkServerIdentity(tls, cert),
          });
    this.client = new grpc.Client(target, credentials, {
      ...options.channelOptions,
      ...(tls !== undefined && isIP(tls.servername) === 0 && { "grpc.ssl_target_name_override": tls.servername }),
      // A connection of its own, never shared with another grpc-js channel in this process.
      "grpc.use_local_subchannel_pool": 1,
    });
  }

  check(done: (end: CheckEnd) => void): Cancel {
    let live = true;
    const call = this.client.makeUnaryRequest(
      CHECK.path,
      CHECK.requestSerialize,
      CHECK.responseDeserialize,
      { service: this.options.serviceName },
      new grpc.Metadata(),
      {},
      (err: grpc.ServiceError | null, response?: object) => {
        if (!live) return;
        live = false;
        if (err !== null) done({ kind: "error", code: err.code, details: err.details });
        else done({ kind: "answer", status: servingStatus(response) });
      },
    );
    return () => {
      if (!live) return;
      live = false;
      call.cancel();
    };
  }

  watch(handlers: WatchHandlers): Cancel {
    let live = true;
    const call = this.client.makeServerStreamRequest(
      WATCH.path,
      WATCH.requestSerialize,
      WATCH.responseDeserialize,
      { service: this.options.serviceName },
      new grpc.Metadata(),
      {},
    );
    call.on("data", (response: object) => {
      if (live) handlers.onStatus(servingStatus(response));
    });
    // grpc-js reports every end, error or not, as "status"; "error" only duplicates it.
    call.on("error", () => undefined);
    call.on("status", (s: grpc.StatusObject) => {
      if (!live) return;
      live = false;
      handlers.onEnd(s.code, s.details);
    });
    return () => {
      if (!live) return;
      live = false;
      call.cancel();
    };
  }

  /** Closes the channel (and its connection); calls in flight end CANCELLED, unreported. */
  close(): void {
    this.client.close();
  }
}
