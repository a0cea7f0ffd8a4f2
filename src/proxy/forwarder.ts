// One RPC's way through the proxy: route, balance, get an upstream stream, then move
// bytes both ways with backpressure until trailers, a reset, or the deadline. Every way
// it can end gives the client a gRPC status, and the counters are released exactly once.
import type { LbEndpoint, PickRequest } from "../balancer/types.js";
import type { RetryCondition, RetryPolicy } from "../config/types.js";
import { SluiceError } from "../core/errors.js";
import { grpcStatusOfHttp, Status, type StatusCode } from "../core/status.js";
import { tracer } from "../core/trace.js";
import { RefusedStream } from "../transport/refused-stream.js";
import { H2Code, h2CodeName, type Headers, type ServerStream, type Stream, type StreamListener } from "../transport/types.js";
import { AttemptEnd } from "../balancer/outcome.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import { ConnectFailure, EndpointGone, type AcquireCallback, type EndpointPool, type PooledConnection } from "../upstream/endpoint-pool.js";
import { statusTrailers, trailersOnly } from "./grpc-wire.js";
import { ResponseFlag } from "./response-flags.js";
import { MAX_TIMER_MS } from "../core/clock.js";

const trace = tracer("forward");

/**
 * A request the proxy never sent (the connection it was given could take no stream, or its
 * endpoint left the cluster while it waited) is replayed at once, like gRPC's transparent
 * retry, whatever the route's retry policy: up to this many times.
 */
const MAX_TRANSPARENT_RETRIES = 3;
/** Envoy's host_selection_retry_max_attempts as Istio sets it: picks tried to find an endpoint not tried yet. */
const HOST_SELECTION_ATTEMPTS = 5;

/** What the forwarder reports when an RPC ends (stats, outlier detection later). */
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

export interface ForwardHooks {
  readonly onEnd: ((outcome: RpcOutcome) => void) | undefined;
  /** Request bytes kept for a retry; past it the RPC is no longer retried. */
  readonly retryBufferLimit: number;
}

/** Why an attempt failed, in the terms of retryOn. */
type Failure =
  | { readonly kind: "connect-failure" | "refused-stream" | "reset" | "timeout" }
  /** A response the backend completed in its headers (trailers-only), or a non-200 :status. */
  | { readonly kind: "response"; readonly grpcStatus: number; readonly httpStatus: number };

/** gRPC status -> its retryOn name. */
const GRPC_RETRY_NAMES: ReadonlyMap<number, RetryCondition> = new Map([
  [Status.CANCELLED, "cancelled"],
  [Status.DEADLINE_EXCEEDED, "deadline-exceeded"],
  [Status.INTERNAL, "internal"],
  [Status.RESOURCE_EXHAUSTED, "resource-exhausted"],
  [Status.UNAVAILABLE, "unavailable"],
]);

/** Whether the policy's retryOn covers this failure (Envoy's router retry state). */
function retryCovers(policy: RetryPolicy, f: Failure): boolean {
  const on = policy.retryOn;
  // Envoy: 5xx and gateway-error also cover every failure without a response at all.
  const noResponse = on.has("5xx") || on.has("gateway-error");
  switch (f.kind) {
    case "connect-failure":
      // Envoy: a failed connect is also a reset (and one before the request was sent).
      return noResponse || on.has("connect-failure") || on.has("reset") || on.has("reset-before-request");
    case "refused-stream":
      return noResponse || on.has("refused-stream") || on.has("reset");
    case "reset":
    case "timeout":
      return noResponse || on.has("reset");
    case "response": {
      const name = GRPC_RETRY_NAMES.get(f.grpcStatus);
      if (name !== undefined && on.has(name)) return true;
      const h = f.httpStatus;
      if (on.has("5xx") && h >= 500 && h <= 599) return true;
      if (on.has("gateway-error") && h >= 502 && h <= 504) return true;
      return on.has("retriable-status-codes") && policy.retriableStatusCodes.has(h);
    }
  }
}

/** Maps an upstream RST_STREAM code to the status the client gets (as grpc-js does). */
export function statusOfReset(code: number): StatusCode {
  switch (code) {
    case H2Code.REFUSED_STREAM:
      return Status.UNAVAILABLE;
    case H2Code.CANCEL:
      return Status.CANCELLED;
    case H2Code.ENHANCE_YOUR_CALM:
      return Status.RESOURCE_EXHAUSTED;
    case H2Code.INADEQUATE_SECURITY:
      return Status.PERMISSION_DENIED;
    default:
      return Status.INTERNAL;
  }
}

type Phase = "connecting" | "open" | "backoff" | "done";

export class Forwarder implements PickRequest {
  private phase: Phase = "connecting";
  private upstream: Stream | undefined;
  /** The current attempt's listener: events of an earlier attempt's stream are ignored. */
  private side: UpstreamSide | undefined;
  private conn: PooledConnection | undefined;
  private pool: EndpointPool | undefined;
  private endpoint: LbEndpoint | undefined;
  /** Whether the cluster's active count (http2MaxRequests) includes this RPC. */
  private counted = false;
  /** Whether the current endpoint's activeRequests includes this RPC (during an attempt). */
  private onEndpoint = false;
  /** The deadline: grpc-timeout or the route timeout. */
  private timer: NodeJS.Timeout | undefined;
  /** The attempt's perTryTimeout, or the backoff before a retry. */
  private tryTimer: NodeJS.Timeout | undefined;
  /** Our place in the pool's queue while waiting for a connection. */
  private waiter: AcquireCallback | undefined;
  /** A retry is still possible: no response passed to the client, the request fits the buffer. */
  private replayable = true;
  /** The request as sent so far, while replayable (created with the first chunk). */
  private replay: Buffer[] | undefined;
  private replayBytes = 0;
  private clientEnded = false;
  /** Retries under the route's policy, and replays of requests never sent. */
  private retries = 0;
  private transparent = 0;
  /** Holds one of the cluster's activeRetries from the first retry to the end. */
  private retrying = false;
  /** Endpoints tried so far (retries go elsewhere when they can). */
  private tried: LbEndpoint[] | undefined;
  /** A failure retryOn covers could not be retried (attempts or budget exhausted). */
  private gaveUp = false;
  /** Why a retry was refused (maxRetries, budget), told to the client with the failure. */
  private retryRefused: string | undefined;
  /** Connection mode: the downstream connection's endpoint, kept on retries. */
  private pinned = false;
  /** When the current attempt started (ms), for its observers. */
  private attemptStart = 0;
  /** For the end hook (metrics, access log). */
  /** When the RPC began (ms), for the RPC-end hook's duration: read only when there is a hook. */
  private readonly startedAt: number;
  private requestBytes = 0;
  private responseBytes = 0;

  constructor(
    private readonly ds: ServerStream,
    private readonly cluster: ClusterRuntime,
    readonly sourceIp: string,
    private readonly hooks: ForwardHooks,
    private readonly retry: RetryPolicy,
  ) {
    this.startedAt = hooks.onEnd === undefined ? 0 : performance.now();
  }

  // PickRequest, read lazily by hash policies.
  header(name: string): string | undefined {
    const v = this.ds.headers[name];
    return Array.isArray(v) ? v[0] : v;
  }
  get path(): string {
    return (this.ds.headers[":path"] as string | undefined) ?? "/";
  }
  get authority(): string {
    return (this.ds.headers[":authority"] as string | undefined) ?? "";
  }

  /** Starts the RPC. `deadlineMs` is the smaller of grpc-timeout and the route timeout. */
  start(deadlineMs: number | undefined, endpoint?: LbEndpoint): void {
    const cluster = this.cluster;
    if (cluster.active >= cluster.http2MaxRequests) {
      cluster.overflows++;
      this.failLocal(
        Status.UNAVAILABLE,
        `upstream overflow: http2MaxRequests limit (${cluster.http2MaxRequests}) reached for ${cluster.name}`,
        ResponseFlag.UPSTREAM_OVERFLOW,
      );
      return;
    }
    let chosen = endpoint;
    this.pinned = endpoint !== undefined;
    if (chosen === undefined) {
      chosen = this.pickEndpoint();
      if (chosen === undefined) return;
    }
    cluster.active++;
    this.counted = true;
    // Beyond setTimeout's range (~24.8 days) a timer would fire at once: treat as no deadline.
    if (deadlineMs !== undefined && deadlineMs <= MAX_TIMER_MS) {
      this.timer = setTimeout(() => this.onDeadline(), deadlineMs);
    }
    this.connect(chosen);
    // After connect: attaching delivers data the client already sent, which needs the
    // upstream stream (or the pause connect() applies while it waits for one).
    this.ds.attach(new DownstreamSide(this));
  }

  /** The balancer's choice, or undefined after answering the client itself. */
  private pickEndpoint(): LbEndpoint | undefined {
    const pick = this.cluster.pick(this);
    if (pick.kind !== "endpoint") {
      // UH only for "no endpoint to pick"; another status is the policy's own answer.
      const flag = pick.kind === "fail" && pick.status !== Status.UNAVAILABLE ? ResponseFlag.NONE : ResponseFlag.NO_HEALTHY_UPSTREAM;
      this.failLocal(pick.kind === "fail" ? pick.status : Status.UNAVAILABLE, pick.kind === "fail" ? pick.message : "no healthy upstream", flag);
      return undefined;
    }
    return pick.endpoint;
  }

  /**
   * For a retry: an endpoint not tried yet (Envoy's previous_hosts predicate): the balancer's
   * pick when one of HOST_SELECTION_ATTEMPTS picks is untried; past those, unlike Envoy, which
   * then takes the last pick, the least loaded untried endpoint, if any is left.
   */
  private pickRetryEndpoint(): LbEndpoint | undefined {
    const tried = this.tried;
    for (let i = 1; ; i++) {
      const next = this.pickEndpoint();
      if (next === undefined || tried === undefined || !this.retry.ignorePreviousHosts) return next;
      if (!tried.some((e) => e.key === next.key)) return next;
      if (i === HOST_SELECTION_ATTEMPTS) return this.cluster.untried(tried) ?? next;
    }
  }

  /** Starts an attempt on `endpoint`: a stream at once when a connection has room, else in the pool's queue. */
  private connect(endpoint: LbEndpoint): void {
    this.endpoint = endpoint;
    endpoint.load.activeRequests++;
    this.onEndpoint = true;
    if (this.cluster.observed) this.attemptStart = this.cluster.clock.now();
    const pool = this.cluster.pool(endpoint);
    this.pool = pool;
    const ready = pool.tryAcquire();
    if (ready !== undefined) {
      // The common case: a connection has room now, so no need to hold the client's data.
      this.openUpstream(ready);
      if (this.retries + this.transparent > 0) this.ds.resume(); // paused while the retry waited
      return;
    }
    // Hold the client's data until the upstream stream exists; flow control holds the rest.
    this.phase = "connecting";
    this.ds.pause();
    this.waiter = (result) => {
      this.waiter = undefined;
      if (this.phase !== "connecting") return;
      if (result instanceof EndpointGone) {
        // Never sent: try again at once, re-picking (connection mode re-pins on the next stream).
        if (this.replayTransparently(result.message)) return;
      } else if (result instanceof ConnectFailure) {
        this.attemptEnded(AttemptEnd.CONNECT_FAILURE, -1);
        // The balancer now passes over this endpoint while it backs off.
        if (this.retryAfter({ kind: "connect-failure" }, result.message)) return;
      }
      if (result instanceof SluiceError) {
        const flag =
          result instanceof ConnectFailure
            ? ResponseFlag.UPSTREAM_CONNECTION_FAILURE
            : result instanceof EndpointGone
              ? ResponseFlag.NO_HEALTHY_UPSTREAM
              : ResponseFlag.UPSTREAM_OVERFLOW; // the pool's other refusal: http1MaxPendingRequests
        this.failLocal(result.grpcStatus ?? Status.UNAVAILABLE, this.withRefusal(result.message), flag);
        return;
      }
      this.openUpstream(result);
      this.ds.resume();
    };
    pool.acquire(this.waiter);
  }

  private openUpstream(conn: PooledConnection): void {
    this.conn = conn;
    this.phase = "open";
    const side = new UpstreamSide(this);
    this.side = side;
    // As Envoy: the per-try timeout runs from the moment the attempt's stream goes out.
    const perTry = this.retry.perTryTimeoutMs;
    if (perTry !== null && perTry <= MAX_TIMER_MS) this.tryTimer = setTimeout(() => this.onPerTryTimeout(), perTry);
    const upstream = this.pool!.openStream(conn, this.ds.headers, side);
    this.upstream = upstream;
    if (this.retries + this.transparent === 0) return;
    // A retry: what the client sent so far goes again.
    if (this.replay !== undefined) for (const chunk of this.replay) upstream.write(chunk);
    if (this.clientEnded) upstream.end();
  }

  private noReplay(): void {
    this.replayable = false;
    this.replay = undefined;
  }

  /** Lets go of the current attempt's stream, connection and endpoint count. */
  private leaveAttempt(resetUpstream: boolean): void {
    if (this.tryTimer !== undefined) clearTimeout(this.tryTimer);
    this.tryTimer = undefined;
    if (this.waiter !== undefined) {
      this.pool!.cancel(this.waiter);
      this.waiter = undefined;
    }
    if (resetUpstream) this.upstream?.reset(H2Code.CANCEL);
    this.upstream = undefined;
    this.side = undefined;
    if (this.conn !== undefined) this.pool!.release(this.conn);
    this.conn = undefined;
    if (this.onEndpoint) {
      this.endpoint!.load.activeRequests--;
      this.onEndpoint = false;
    }
  }

  /** A request no backend saw: replayed at once, elsewhere if balancing. False when it may not be. */
  private replayTransparently(reason: string): boolean {
    if (!this.replayable || this.ds.responded || this.transparent >= MAX_TRANSPARENT_RETRIES) return false;
    this.transparent++;
    this.cluster.retryStats.transparent++;
    trace("transparent retry", { cluster: this.cluster.name, endpoint: this.endpoint!.key, attempt: this.transparent, reason });
    this.leaveAttempt(false);
    // The endpoint may have left the cluster: pick again even in connection mode.
    const next = this.pinned && this.cluster.isCurrent(this.endpoint!) ? this.endpoint : this.pickEndpoint();
    if (next !== undefined) this.connect(next);
    return true;
  }

  /**
   * The route's retry policy: retries the failed attempt after a backoff when retryOn covers
   * it, attempts are left, nothing reached the client and the request is still buffered, and
   * the cluster's maxRetries / retry budget allows. False when the caller must fail the RPC.
   */
  private retryAfter(failure: Failure, reason: string, streamOpen = false): boolean {
    if (this.phase === "done" || !this.replayable || this.ds.responded) return false;
    const policy = this.retry;
    if (!retryCovers(policy, failure)) return false;
    const cluster = this.cluster;
    if (this.retries >= policy.attempts) {
      if (policy.attempts > 0) cluster.retryStats.limitExceeded++;
      this.gaveUp = true;
      return false;
    }
    if (!this.retrying) {
      const refusal = cluster.retryRefusal();
      if (refusal !== undefined) {
        cluster.retryStats.overflows++;
        this.retryRefused = refusal;
        this.gaveUp = true;
        return false;
      }
      this.retrying = true;
      cluster.activeRetries++;
    }
    this.retries++;
    cluster.retryStats.retries++;
    trace("retry", { cluster: cluster.name, endpoint: this.endpoint!.key, retry: this.retries, reason });
    (this.tried ??= []).push(this.endpoint!);
    this.leaveAttempt(streamOpen);
    // Hold the client's data during the backoff; flow control holds the rest.
    this.phase = "backoff";
    this.ds.pause();
    this.tryTimer = setTimeout(() => this.afterBackoff(), this.backoffMs());
    return true;
  }

  /** Envoy's fully jittered exponential backoff: uniform in [0, base x 2^(retry-1)), at most 10 x base. */
  private backoffMs(): number {
    const base = this.retry.backoffBaseMs;
    return this.cluster.random() * Math.min(base * 2 ** (this.retries - 1), base * 10);
  }

  private afterBackoff(): void {
    this.tryTimer = undefined;
    if (this.phase !== "backoff") return;
    // Connection mode stays on its endpoint, unless that left the cluster during the backoff.
    const next = this.pinned && this.cluster.isCurrent(this.endpoint!) ? this.endpoint : this.pickRetryEndpoint();
    if (next !== undefined) this.connect(next);
  }

  /** A refused retry's reason joins the failure the client gets. */
  private withRefusal(message: string): string {
    return this.retryRefused === undefined ? message : `${message}; not retried: ${this.retryRefused}`;
  }

  /** Tells the cluster's observers how the attempt on the current endpoint ended. */
  private attemptEnded(end: AttemptEnd, grpcStatus: number): void {
    const cluster = this.cluster;
    if (!cluster.observed) return;
    cluster.attemptEnded({ endpoint: this.endpoint!, end, grpcStatus, durationMs: cluster.clock.now() - this.attemptStart });
  }

  private onPerTryTimeout(): void {
    this.tryTimer = undefined;
    if (this.phase !== "open") return;
    const message = `upstream per-try timeout (${this.retry.perTryTimeoutMs} ms) on ${this.endpoint!.key}`;
    this.attemptEnded(AttemptEnd.TIMEOUT, -1);
    if (this.retryAfter({ kind: "timeout" }, message, true)) return;
    this.upstream?.reset(H2Code.CANCEL);
    // Envoy's 504 "upstream request timeout", which a gRPC client gets as UNAVAILABLE: the
    // call's own deadline has not passed, so DEADLINE_EXCEEDED would mislead.
    this.failLocal(Status.UNAVAILABLE, this.withRefusal(message), ResponseFlag.UPSTREAM_REQUEST_TIMEOUT);
  }

  private onDeadline(): void {
    this.timer = undefined;
    if (this.phase === "done") return;
    if (this.phase === "open") this.attemptEnded(AttemptEnd.TIMEOUT, -1);
    this.upstream?.reset(H2Code.CANCEL);
    this.failLocal(Status.DEADLINE_EXCEEDED, "deadline exceeded (grpc-timeout or route timeout) in sluice proxy", ResponseFlag.UPSTREAM_REQUEST_TIMEOUT);
  }

  /** Ends the RPC with a status of the proxy's own. */
  private failLocal(code: StatusCode, message: string, flag: ResponseFlag): void {
    trace("local status", { cluster: this.cluster.name, code, message });
    const ds = this.ds;
    if (!ds.closed) {
      if (ds.responded) ds.end(statusTrailers(code, message));
      else ds.respond(trailersOnly(code, message), true);
    }
    this.finish(code, true, flag);
  }

  private finish(status: number | null, local: boolean, flag: ResponseFlag): void {
    if (this.phase === "done") return;
    this.phase = "done";
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.tryTimer !== undefined) clearTimeout(this.tryTimer);
    if (this.waiter !== undefined) {
      this.pool!.cancel(this.waiter);
      this.waiter = undefined;
    }
    // Whatever the client still sends is dropped: node only frees a server stream once its
    // readable side ends, which a paused stream never does.
    if (!this.ds.closed) this.ds.resume();
    const cluster = this.cluster;
    if (this.counted) cluster.active--;
    if (this.retrying) {
      cluster.activeRetries--;
      // Envoy's upstream_rq_retry_success: after a retry, an answer retryOn does not cover.
      if (!local && !this.gaveUp) cluster.retryStats.successes++;
    }
    if (this.onEndpoint) this.endpoint!.load.activeRequests--;
    if (this.conn !== undefined) this.pool!.release(this.conn);
    const onEnd = this.hooks.onEnd;
    if (onEnd !== undefined) {
      onEnd({
        cluster: cluster.name,
        endpoint: this.endpoint?.key ?? null,
        status,
        local,
        durationMs: performance.now() - this.startedAt,
        requestBytes: this.requestBytes,
        responseBytes: this.responseBytes,
        authority: this.authority,
        path: this.path,
        retries: this.retries,
        flag,
      });
    }
  }

  // --- downstream (client) side events, via DownstreamSide ---

  onClientData(chunk: Buffer): void {
    if (this.phase === "done") return;
    this.requestBytes += chunk.length;
    if (this.replayable) {
      this.replayBytes += chunk.length;
      if (this.replayBytes <= this.hooks.retryBufferLimit) (this.replay ??= []).push(chunk);
      else this.noReplay(); // too much to replay: no retry from now on
    }
    if (this.upstream !== undefined && !this.upstream.write(chunk)) this.ds.pause();
  }

  onClientEnd(): void {
    if (this.phase === "done") return;
    this.clientEnded = true;
    this.upstream?.end();
  }

  onClientReset(code: number): void {
    if (this.phase === "done") return;
    trace("client cancelled", { cluster: this.cluster.name, code: h2CodeName(code) });
    if (this.phase === "open") this.attemptEnded(AttemptEnd.CANCELLED, -1);
    this.upstream?.reset(H2Code.CANCEL);
    this.finish(Status.CANCELLED, false, ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION);
  }

  onClientDrain(): void {
    this.upstream?.resume();
  }

  // --- upstream (backend) side events, via UpstreamSide ---

  onBackendHeaders(side: UpstreamSide, headers: Headers, endStream: boolean): void {
    if (side !== this.side || this.phase !== "open") return;
    const httpStatus = Number(headers[":status"]);
    if (endStream) {
      // Trailers-only: the whole answer is here, so a retriable status can still be retried.
      const status = statusOf(headers);
      this.attemptEnded(AttemptEnd.RESPONSE, status ?? -1);
      if (this.replayable && this.retryAfter({ kind: "response", grpcStatus: status ?? -1, httpStatus }, `grpc-status ${status} (:status ${httpStatus})`))
        return;
    } else if (httpStatus !== 200 && this.replayable) {
      // Not a gRPC answer (a proxy or server error page): retriable by its :status.
      if (this.retryAfter({ kind: "response", grpcStatus: -1, httpStatus }, `:status ${httpStatus}`, true)) {
        // Reported here only when retried; an answer passed on is reported when it ends.
        this.attemptEnded(AttemptEnd.RESPONSE, grpcStatusOfHttp(httpStatus));
        return;
      }
    }
    this.noReplay(); // the response begins: no more retries
    if (this.tryTimer !== undefined) {
      // As Envoy, a per-try timeout no longer applies once the response has started.
      clearTimeout(this.tryTimer);
      this.tryTimer = undefined;
    }
    this.ds.respond(headers, endStream);
    if (endStream) this.finish(statusOf(headers), false, ResponseFlag.NONE);
  }

  onBackendData(side: UpstreamSide, chunk: Buffer): void {
    if (side !== this.side) return;
    this.responseBytes += chunk.length;
    if (!this.ds.write(chunk)) this.upstream?.pause();
  }

  onBackendTrailers(side: UpstreamSide, trailers: Headers): void {
    if (side !== this.side || this.phase !== "open") return;
    this.ds.end(trailers);
    const status = statusOf(trailers);
    this.attemptEnded(AttemptEnd.RESPONSE, status ?? -1);
    this.finish(status, false, ResponseFlag.NONE);
  }

  onBackendEnd(side: UpstreamSide): void {
    if (side !== this.side || this.phase !== "open") return;
    this.attemptEnded(AttemptEnd.RESET, -1);
    this.failLocal(Status.INTERNAL, "upstream ended the stream without trailers", ResponseFlag.UPSTREAM_PROTOCOL_ERROR);
  }

  onBackendReset(side: UpstreamSide, code: number, reason: string, connectionLost: boolean): void {
    if (side !== this.side || this.phase !== "open") return;
    // Never sent: the connection could take no stream.
    if (this.upstream instanceof RefusedStream && this.replayTransparently(reason)) return;
    const refused = code === H2Code.REFUSED_STREAM;
    // A refused stream was not processed (RFC 9113 8.7): not the endpoint's failure.
    if (!refused) this.attemptEnded(AttemptEnd.RESET, -1);
    const detail = `${reason}${this.ds.responded ? "" : " before response"}: ${h2CodeName(code)} from ${this.endpoint!.key}`;
    if (this.retryAfter({ kind: refused ? "refused-stream" : "reset" }, detail)) return;
    // A lost connection, a refused stream, or any reset before the response is UNAVAILABLE
    // (retryable, a gateway error); a reset mid-response maps as grpc-js maps RST_STREAM.
    const status = connectionLost || refused || !this.ds.responded ? Status.UNAVAILABLE : statusOfReset(code);
    this.failLocal(status, this.withRefusal(detail), connectionLost ? ResponseFlag.UPSTREAM_CONNECTION_TERMINATION : ResponseFlag.UPSTREAM_REMOTE_RESET);
  }

  onBackendDrain(side: UpstreamSide): void {
    if (side === this.side) this.ds.resume();
  }
}

/** The client's stream events, routed to the forwarder (a class, not closures: one object per RPC). */
class DownstreamSide implements StreamListener {
  constructor(private readonly f: Forwarder) {}
  onHeaders(): void {
    // Request headers arrive before the forwarder exists; a server stream never gets these.
  }
  onData(chunk: Buffer): void {
    this.f.onClientData(chunk);
  }
  onTrailers(): void {
    // gRPC requests carry no trailers; node:http2 reports any as end of stream.
    this.f.onClientEnd();
  }
  onEnd(): void {
    this.f.onClientEnd();
  }
  onReset(code: number): void {
    this.f.onClientReset(code);
  }
  onDrain(): void {
    this.f.onClientDrain();
  }
}

/** The backend's stream events, routed to the forwarder. */
class UpstreamSide implements StreamListener {
  constructor(private readonly f: Forwarder) {}
  onHeaders(headers: Headers, endStream: boolean): void {
    this.f.onBackendHeaders(this, headers, endStream);
  }
  onData(chunk: Buffer): void {
    this.f.onBackendData(this, chunk);
  }
  onTrailers(trailers: Headers): void {
    this.f.onBackendTrailers(this, trailers);
  }
  onEnd(): void {
    this.f.onBackendEnd(this);
  }
  onReset(code: number, reason: string, connectionLost: boolean): void {
    this.f.onBackendReset(this, code, reason, connectionLost);
  }
  onDrain(): void {
    this.f.onBackendDrain(this);
  }
}

function statusOf(headers: Headers): number | null {
  const v = headers["grpc-status"];
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return null;
  const n = Number(s);
  return Number.isInteger(n) ? n : null;
}
