// How one RPC through the proxy ended, as the forwarder reports it to its end hook: the
// access log, the per-cluster RPC stats and the metrics read it. Its own module, so that
// they need not import the forwarder.
import type { ResponseFlag } from "./response-flags.js";

/** What the forwarder reports when an RPC ends. */
export interface RpcOutcome {
  readonly cluster: string;
  readonly endpoint: string | null;
  /** gRPC status the client saw, or null when unknown (reset without status). */
  readonly status: number | null;
  /** True when the proxy produced the status itself. */
  readonly local: boolean;
  /** From the stream's arrival to its end (ms). */
  readonly durationMs: number;
  /** Message bytes from the client, and to it (gRPC framing included, HTTP/2 framing not). */
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly authority: string;
  readonly path: string;
  /** Retries under the route's policy (transparent replays not counted). */
  readonly retries: number;
  /** Envoy's response flag: why the proxy ended it so, or NONE when the backend answered. */
  readonly flag: ResponseFlag;
}
