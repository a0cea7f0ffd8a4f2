// One JSON line per RPC (spec.accessLog), with the fields of Envoy's default access log
// format under the names of its JSON format's usual keys, so log pipelines built for Envoy
// find them: authority, path, response code, grpc-status, upstream host, duration, bytes.
import pino, { type DestinationStream } from "pino";
import type { RpcOutcome } from "../proxy/rpc-outcome.js";
import { responseCode, responseFlagName } from "../proxy/response-flags.js";

export class AccessLog {
  private readonly log: pino.Logger;

  /** `destination`: stdout by default (tests capture it). */
  constructor(destination: DestinationStream = pino.destination(1)) {
    this.log = pino({ base: null, timestamp: false }, destination);
  }

  write(o: RpcOutcome): void {
    const now = Date.now();
    this.log.info({
      start_time: new Date(now - o.durationMs).toISOString(),
      method: "POST",
      authority: o.authority,
      path: o.path,
      protocol: "HTTP/2",
      response_code: responseCode(o.status, o.local, o.flag),
      grpc_status: o.status,
      // Envoy's response flags: why the proxy ended the RPC so; "-" = the backend answered.
      response_flags: responseFlagName(o.flag),
      upstream_cluster: o.cluster,
      upstream_host: o.endpoint,
      duration: Math.round(o.durationMs * 1000) / 1000,
      bytes_received: o.requestBytes,
      bytes_sent: o.responseBytes,
      retries: o.retries,
    });
  }
}
