// One RPC's way through the proxy: route, balance, get an upstream stream, then move
// bytes both ways with backpressure until trailers, a reset, or the deadline. Every way
// it can end gives the client a gRPC status, and the counters are released exactly once.
import type { LbEndpoint, PickRequest } from "../balancer/types.js";
import { Status, type StatusCode, SluiceError } from "../core/status.js";
import { tracer } from "../core/trace.js";
import { H2Code, h2CodeName, type Headers, type ServerStream, type Stream, type StreamListener } from "../transport/types.js";
import { AttemptEnd } from "../upstream/attempt.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import { ConnectFailure, type AcquireCallback, type EndpointPool, type PooledConnection } from "../upstream/endpoint-pool.js";
import { statusTrailers, trailersOnly } from "./grpc-wire.js";

const trace = tracer("forward");

const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * A stream the backend refused (REFUSED_STREAM, or above a GOAWAY's last-stream-id) was not
 * processed, so it is retried transparently, like gRPC's transparent retry and Envoy's
 * `refused-stream`: up to this many times, with the request replayed from a buffer.
 */
const MAX_TRANSPARENT_RETRIES = 3;
/** Request bytes kept for a replay (gRPC keeps 256 KiB per RPC); past it no retry. */
const RETRY_BUFFER_LIMIT = 256 * 1024;

/** What the forwarder reports when an RPC ends (stats, outlier detection later). */
export interface RpcOutcome {
  readonly cluster: string;
  readonly endpoint: string | null;
  /** gRPC status the client saw, or null when unknown (reset without status). */
  readonly status: number | null;
  /** True when the proxy produced the status itself. */
  readonly local: boolean;
}

export interface ForwardHooks {
  readonly onEnd: ((outcome: RpcOutcome) => void) | undefined;
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

type Phase = "connecting" | "open" | "done";

export class Forwarder implements PickRequest {
  private phase: Phase = "connecting";
  private upstream: Stream | undefined;
  private conn: PooledConnection | undefined;
  private pool: EndpointPool | undefined;
  private endpoint: LbEndpoint | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** Our place in the pool's queue while waiting for a connection. */
  private waiter: AcquireCallback | undefined;
  /** A refused stream may still be retried: no response yet, the request fits the buffer. */
  private replayable = true;
  /** The request as sent so far, while replayable (created with the first chunk). */
  private replay: Buffer[] | undefined;
  private replayBytes = 0;
  private clientEnded = false;
  private retries = 0;
  /** Connection mode: the downstream connection's endpoint, kept on retries. */
  private pinned = false;
  /** When the current attempt started (clock ms), for its observers. */
  private attemptStart = 0;

  constructor(
    private readonly ds: ServerStream,
    private readonly cluster: ClusterRuntime,
    readonly sourceIp: string,
    private readonly hooks: ForwardHooks,
  ) {}

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
        false,
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
      const message = pick.kind === "fail" ? pick.message : "no healthy upstream";
      this.failLocal(pick.kind === "fail" ? pick.status : Status.UNAVAILABLE, message, this.endpoint !== undefined);
      return undefined;
    }
    return pick.endpoint;
  }

  /** Gets a stream to `endpoint`: at once when a connection has room, else in the pool's queue. */
  private connect(endpoint: LbEndpoint): void {
    this.endpoint = endpoint;
    endpoint.load.activeRequests++;
    if (this.cluster.attemptObservers.length > 0) this.attemptStart = performance.now();
    const pool = this.cluster.pool(endpoint);
    this.pool = pool;
    const ready = pool.tryAcquire();
    if (ready !== undefined) {
      // The common case: a connection has room now, so no need to hold the client's data.
      this.openUpstream(ready);
      if (this.retries > 0) this.ds.resume(); // a retry may have waited for a connection before
      return;
    }
    // Hold the client's data until the upstream stream exists; flow control holds the rest.
    this.phase = "connecting";
    this.ds.pause();
    this.waiter = (result) => {
      this.waiter = undefined;
      if (this.phase !== "connecting") return;
      if (result instanceof ConnectFailure) this.attemptEnded(AttemptEnd.CONNECT_FAILURE, -1);
      if (result instanceof ConnectFailure && !this.pinned && this.replayable && this.retries < MAX_TRANSPARENT_RETRIES) {
        // Nothing reached the backend: another endpoint may take it (the balancer now passes
        // over this one while it backs off).
        this.retryElsewhere(result.message);
        return;
      }
      if (result instanceof SluiceError) {
        this.failLocal(result.code, result.message, true);
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
    const upstream = this.pool!.openStream(conn, this.ds.headers, new UpstreamSide(this));
    this.upstream = upstream;
    if (this.retries === 0) return;
    // A retry: what the client sent so far goes again.
    if (this.replay !== undefined) for (const chunk of this.replay) upstream.write(chunk);
    if (this.clientEnded) upstream.end();
  }

  private noReplay(): void {
    this.replayable = false;
    this.replay = undefined;
  }

  /** The backend refused the stream before processing it: try again, elsewhere if balancing. */
  private retryRefused(reason: string): void {
    this.upstream = undefined;
    this.pool!.release(this.conn!);
    this.conn = undefined;
    this.retryElsewhere(reason);
  }

  /** Another attempt for a request no backend has processed; the endpoint is still counted. */
  private retryElsewhere(reason: string): void {
    this.retries++;
    trace("transparent retry", { cluster: this.cluster.name, endpoint: this.endpoint!.key, attempt: this.retries, reason });
    // Connection mode keeps the connection's endpoint; otherwise the balancer picks again.
    const next = this.pinned ? this.endpoint! : this.pickEndpoint();
    if (next === undefined) return; // answered: the old endpoint was still counted
    this.endpoint!.load.activeRequests--;
    this.connect(next);
  }

  /** Tells the cluster's observers how the attempt on the current endpoint ended. */
  private attemptEnded(end: AttemptEnd, grpcStatus: number): void {
    const observers = this.cluster.attemptObservers;
    if (observers.length === 0) return;
    const duration = performance.now() - this.attemptStart;
    for (const o of observers) o.attemptEnded(this.endpoint!, end, grpcStatus, duration);
  }

  private onDeadline(): void {
    this.timer = undefined;
    if (this.phase === "done") return;
    if (this.phase === "open") this.attemptEnded(AttemptEnd.TIMEOUT, -1);
    this.upstream?.reset(H2Code.CANCEL);
    this.failLocal(Status.DEADLINE_EXCEEDED, "deadline exceeded (grpc-timeout or route timeout) in sluice proxy", true);
  }

  /** Ends the RPC with a status of the proxy's own. */
  private failLocal(code: StatusCode, message: string, counted: boolean): void {
    trace("local status", { cluster: this.cluster.name, code, message });
    const ds = this.ds;
    if (!ds.closed) {
      if (ds.responded) ds.end(statusTrailers(code, message));
      else ds.respond(trailersOnly(code, message), true);
    }
    this.finish(code, true, counted);
  }

  private finish(status: number | null, local: boolean, counted = true): void {
    if (this.phase === "done") return;
    this.phase = "done";
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.waiter !== undefined) {
      this.pool!.cancel(this.waiter);
      this.waiter = undefined;
    }
    // Whatever the client still sends is dropped: node only frees a server stream once its
    // readable side ends, which a paused stream never does.
    if (!this.ds.closed) this.ds.resume();
    if (counted) {
      this.cluster.active--;
      this.endpoint!.load.activeRequests--;
    }
    if (this.conn !== undefined) this.pool!.release(this.conn);
    const onEnd = this.hooks.onEnd;
    if (onEnd !== undefined) {
      onEnd({ cluster: this.cluster.name, endpoint: this.endpoint?.key ?? null, status, local });
    }
  }

  // --- downstream (client) side events, via DownstreamSide ---

  onClientData(chunk: Buffer): void {
    if (this.phase === "done") return;
    if (this.replayable) {
      this.replayBytes += chunk.length;
      if (this.replayBytes <= RETRY_BUFFER_LIMIT) (this.replay ??= []).push(chunk);
      else this.noReplay(); // too much to replay: a refused stream now fails
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
    this.upstream?.reset(H2Code.CANCEL);
    this.finish(Status.CANCELLED, false);
  }

  onClientDrain(): void {
    this.upstream?.resume();
  }

  // --- upstream (backend) side events, via UpstreamSide ---

  onBackendHeaders(headers: Headers, endStream: boolean): void {
    if (this.phase !== "open") return;
    this.noReplay(); // the backend took it: no more transparent retries
    this.ds.respond(headers, endStream);
    if (endStream) {
      const status = statusOf(headers);
      this.attemptEnded(AttemptEnd.RESPONSE, status ?? -1);
      this.finish(status, false);
    }
  }

  onBackendData(chunk: Buffer): void {
    if (!this.ds.write(chunk)) this.upstream?.pause();
  }

  onBackendTrailers(trailers: Headers): void {
    if (this.phase !== "open") return;
    this.ds.end(trailers);
    const status = statusOf(trailers);
    this.attemptEnded(AttemptEnd.RESPONSE, status ?? -1);
    this.finish(status, false);
  }

  onBackendEnd(): void {
    if (this.phase !== "open") return;
    this.attemptEnded(AttemptEnd.RESET, -1);
    this.failLocal(Status.INTERNAL, "upstream ended the stream without trailers", true);
  }

  onBackendReset(code: number, reason: string, connectionLost: boolean): void {
    if (this.phase !== "open") return;
    if (code === H2Code.REFUSED_STREAM && this.replayable && !this.ds.responded && this.retries < MAX_TRANSPARENT_RETRIES) {
      this.retryRefused(reason);
      return;
    }
    this.attemptEnded(AttemptEnd.RESET, -1);
    const before = this.ds.responded ? "" : " before response";
    // A lost connection, a refused stream, or any reset before the response is UNAVAILABLE
    // (retryable, a gateway error); a reset mid-response maps as grpc-js maps RST_STREAM.
    const status = connectionLost || code === H2Code.REFUSED_STREAM || !this.ds.responded ? Status.UNAVAILABLE : statusOfReset(code);
    this.failLocal(status, `${reason}${before}: ${h2CodeName(code)} from ${this.endpoint!.key}`, true);
  }

  onBackendDrain(): void {
    this.ds.resume();
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
    this.f.onBackendHeaders(headers, endStream);
  }
  onData(chunk: Buffer): void {
    this.f.onBackendData(chunk);
  }
  onTrailers(trailers: Headers): void {
    this.f.onBackendTrailers(trailers);
  }
  onEnd(): void {
    this.f.onBackendEnd();
  }
  onReset(code: number, reason: string, connectionLost: boolean): void {
    this.f.onBackendReset(code, reason, connectionLost);
  }
  onDrain(): void {
    this.f.onBackendDrain();
  }
}

function statusOf(headers: Headers): number | null {
  const v = headers["grpc-status"];
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return null;
  const n = Number(s);
  return Number.isInteger(n) ? n : null;
}
