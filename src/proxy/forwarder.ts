// One RPC's way through the proxy: route, balance, get an upstream stream, then move
// bytes both ways with backpressure until trailers, a reset, or the deadline. Every way
// it can end gives the client a gRPC status. Whether and where to retry is the retry
// policy's, asked through the RPC's Attempts (attempts.ts); the counts the RPC holds are its
// Admission's, released by its one end(); here are the plumbing and the phase (rpc-phase.ts).
import { AttemptEnd } from "../balancer/outcome.js";
import type { Pin } from "../balancer/connection-pins.js";
import type { PickRequest } from "../balancer/types.js";
import type { RetryPolicy } from "../config/types.js";
import { MAX_TIMER_MS, type TimerHandle } from "../core/clock.js";
import { SluiceError } from "../core/errors.js";
import { grpcStatusOfHttp, Status } from "../core/status.js";
import { tracer } from "../core/trace.js";
import { CONNECT_FAILURE, REFUSED_STREAM, RESET, TIMEOUT, type Failure, type Retry } from "../resilience/retry-policy.js";
import { RefusedStream } from "../transport/refused-stream.js";
import { H2Code, h2CodeName, type Headers, type ServerConnection, type ServerStream } from "../transport/types.js";
import type { Admission } from "../upstream/admission.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import { ConnectFailure, EndpointGone, type EndpointPool, type PooledConnection } from "../upstream/endpoint-pool.js";
import { DEADLINE_EXCEEDED, NO_TRAILERS, overflow, perTryTimeout, poolRefusal, resetDetail, resetStatus, type LocalStatus } from "./local-status.js";
import { Attempts, isEndpoint, type NextAttempt } from "./attempts.js";
import { ClientSide, type ClientEvents } from "./client-side.js";
import type { PrematureCancels } from "./premature-cancels.js";
import { grpcStatusOf, statusTrailers, trailersOnly } from "./grpc-wire.js";
import { ResponseFlag } from "./response-flags.js";
import type { RpcOutcome } from "./rpc-outcome.js";
import { DONE, IDLE, UpstreamSide, type Backoff, type BackendEvents, type Connecting, type Phase } from "./rpc-phase.js";

const trace = tracer("forward");

/** An RPC's deadline (ms from its start), and whether it is the client's grpc-timeout rather than the route's timeout. */
export interface RpcDeadline {
  readonly ms: number;
  readonly byClient: boolean;
}

export interface ForwardHooks {
  readonly onEnd: ((outcome: RpcOutcome) => void) | undefined;
  /** Request bytes kept for a retry; past it the RPC is no longer retried. */
  readonly retryBufferLimit: number;
  /** The same over all the RPCs of a cluster (each cluster counts its own). */
  readonly retryBufferBudget: number;
  /** The process's budget of upstream streams its clients cancel at once (rapid reset). */
  readonly prematureCancels: PrematureCancels;
}

export class Forwarder implements ClientEvents, BackendEvents {
  private phase: Phase = IDLE;
  /** Where each attempt goes and whether another follows; holds the RPC's Admission. Undefined until admitted. */
  private attempts: Attempts | undefined;
  /** The deadline: grpc-timeout or the route timeout. */
  private deadline: TimerHandle | undefined;
  /** The deadline is the client's (its grpc-timeout): its passing is the client giving up, not the backend failing. */
  private clientDeadline = false;
  /** The client's stream's listener, the request as the balancer sees it, and as sent so far. */
  private readonly client: ClientSide;
  /** When the RPC began (ms): the RPC-end hook's duration, and whether a client's cancel came at once. */
  private readonly startedAt: number;
  private responseBytes = 0;

  constructor(
    private readonly ds: ServerStream,
    private readonly cluster: ClusterRuntime,
    private readonly conn: ServerConnection,
    private readonly hooks: ForwardHooks,
    private readonly retry: RetryPolicy,
  ) {
    this.startedAt = cluster.clock.now();
    this.client = new ClientSide(this, ds, conn.remoteAddress);
  }

  /** What the balancer reads of the request (hash policies: headers, source IP). */
  get request(): PickRequest {
    return this.client;
  }

  /** The counts the RPC holds on its cluster (once admitted). */
  private get admission(): Admission {
    return this.attempts!.admission;
  }

  /**
   * Starts the RPC. `deadline`: the smaller of grpc-timeout and the route timeout, and whether
   * it is the client's; `pin`: connection mode's pin.
   */
  start(deadline: RpcDeadline | undefined, pin?: Pin): void {
    const cluster = this.cluster;
    const admission = cluster.admit();
    if (admission === null) return this.failLocal(overflow(cluster.http2MaxRequests, cluster.name));
    this.attempts = new Attempts(cluster, this.client, admission, this.retry, pin);
    const first = this.attempts.first();
    if (!isEndpoint(first)) return this.failLocal(first);
    // Beyond setTimeout's range (~24.8 days): treat as no deadline.
    if (deadline !== undefined && deadline.ms <= MAX_TIMER_MS) {
      this.clientDeadline = deadline.byClient;
      this.deadline = cluster.clock.setTimer(deadline.ms, () => this.onDeadline());
    }
    this.connect(first);
    // After connect: attaching delivers data the client already sent, which needs the
    // upstream stream (or the pause connect() applies while it waits for one).
    this.ds.attach(this.client);
  }

  /** Starts an attempt on the endpoint given: a stream at once when a connection has room, else in the pool's queue. */
  private connect(next: NextAttempt): void {
    if (!isEndpoint(next)) return this.failLocal(next);
    this.attempts!.enter(next);
    const pool = this.cluster.pool(next);
    const ready = pool.tryAcquire();
    if (ready !== undefined) {
      // The common case: a connection has room now, so no need to hold the client's data.
      this.openUpstream(pool, ready);
      if (this.attempts!.isRetry) this.ds.resume(); // paused while the retry waited
      return;
    }
    // Hold the client's data until the upstream stream exists; flow control holds the rest.
    this.ds.pause();
    const connecting: Connecting = { t: "connecting", pool, waiter: (result) => this.onConnection(connecting, result) };
    this.phase = connecting;
    pool.acquire(connecting.waiter);
  }

  /** The pool's answer to a queued attempt: a connection, or why there is none. */
  private onConnection(connecting: Connecting, result: PooledConnection | SluiceError): void {
    if (this.phase !== connecting) return;
    this.phase = IDLE; // the pool has let go of the waiter
    if (result instanceof EndpointGone) {
      // Never sent: try again at once, re-picking (connection mode: the pin moves).
      if (this.replayTransparently(result.message)) return;
    } else if (result instanceof ConnectFailure) {
      this.admission.attemptEnded(AttemptEnd.CONNECT_FAILURE, -1);
      // The balancer now passes over this endpoint while it backs off. Connection mode: the
      // connection's pin moves off it, and the request, never sent, goes along at once, as a
      // request-mode pick would never have chosen an endpoint in TRANSIENT_FAILURE.
      if (this.attempts!.isPinned && this.replayTransparently(result.message)) return;
      if (this.retryAfter(CONNECT_FAILURE, result.message)) return;
    }
    if (result instanceof SluiceError) return this.failLocal(poolRefusal(result, this.attempts!.withRefusal(result.message)));
    this.openUpstream(connecting.pool, result);
    this.ds.resume();
  }

  private openUpstream(pool: EndpointPool, conn: PooledConnection): void {
    const side = new UpstreamSide(this, pool, conn);
    this.phase = side;
    // As Envoy: the per-try timeout runs from the moment the attempt's stream goes out.
    const perTry = this.retry.perTryTimeoutMs;
    if (perTry !== null && perTry <= MAX_TIMER_MS) side.tryTimer = this.cluster.clock.setTimer(perTry, () => this.onPerTryTimeout(side));
    const stream = pool.openStream(conn, this.ds.headers, side);
    side.stream = stream;
    if (this.attempts!.isRetry) this.client.replayTo(stream);
  }

  /** Lets go of the current attempt (its place in the pool's queue, or its stream and connection), then of its endpoint's count. */
  private leaveAttempt(resetUpstream: boolean): void {
    const phase = this.phase;
    if (phase.t === "connecting") {
      phase.pool.cancel(phase.waiter);
    } else if (phase.t === "open") {
      phase.tryTimer?.cancel();
      if (resetUpstream) phase.stream.reset(H2Code.CANCEL);
      phase.pool.release(phase.conn);
    }
    this.phase = IDLE;
    this.admission.leave();
  }

  /** A request no backend saw: replayed at once, elsewhere if balancing. False when it may not be. */
  private replayTransparently(reason: string): boolean {
    const attempts = this.attempts!;
    if (!attempts.replay(this.ds.responded, reason)) return false;
    this.leaveAttempt(false);
    // Connection mode: the pin, moved if its endpoint left or cannot be reached.
    this.connect(attempts.next(attempts.isPinned, false));
    return true;
  }

  /** Retries the failed attempt after a backoff when the retry policy says so; false when the caller must fail the RPC. */
  private retryAfter(failure: Failure, reason: string, streamOpen = false): boolean {
    if (this.phase.t === "done") return false;
    const retry = this.attempts!.retry(failure, this.ds.responded, reason);
    if (retry === undefined) return false;
    this.leaveAttempt(streamOpen);
    // Hold the client's data during the backoff; flow control holds the rest.
    this.ds.pause();
    const backoff: Backoff = { t: "backoff", timer: this.cluster.clock.setTimer(retry.delayMs, () => this.afterBackoff(backoff, retry)) };
    this.phase = backoff;
    return true;
  }

  private afterBackoff(backoff: Backoff, retry: Retry): void {
    if (this.phase !== backoff) return;
    this.phase = IDLE;
    this.connect(this.attempts!.next(retry.pinned, retry.avoidTried));
  }

  private onPerTryTimeout(side: UpstreamSide): void {
    if (this.phase !== side) return;
    side.tryTimer = undefined;
    const message = `upstream per-try timeout (${this.retry.perTryTimeoutMs} ms) on ${this.attempts!.endpoint!.key}`;
    this.admission.attemptEnded(AttemptEnd.TIMEOUT, -1);
    if (this.retryAfter(TIMEOUT, message, true)) return;
    side.stream.reset(H2Code.CANCEL);
    this.failLocal(perTryTimeout(this.attempts!.withRefusal(message)));
  }

  private onDeadline(): void {
    const phase = this.phase;
    if (phase.t === "done") return;
    if (phase.t === "open") {
      // The client's own deadline is the client giving up (outlier detection does not count it); the route's is the backend's slowness.
      this.admission.attemptEnded(this.clientDeadline ? AttemptEnd.CANCELLED : AttemptEnd.TIMEOUT, -1);
      phase.stream.reset(H2Code.CANCEL);
    }
    this.failLocal(DEADLINE_EXCEEDED);
  }
  /** Ends the RPC with a status of the proxy's own (local-status.ts says which). */
  private failLocal({ code, message, flag }: LocalStatus): void {
    trace("local status", { cluster: this.cluster.name, code, message });
    const ds = this.ds;
    if (!ds.closed) {
      if (ds.responded) ds.end(statusTrailers(code, message));
      else ds.respond(trailersOnly(code, message), true);
    }
    this.finish(code, true, flag);
  }

  /** The one way out: every timer, queue place, count and connection the RPC holds is released. */
  private finish(status: number | null, local: boolean, flag: ResponseFlag): void {
    const phase = this.phase;
    if (phase.t === "done") return;
    this.phase = DONE;
    this.deadline?.cancel();
    if (phase.t === "open") phase.tryTimer?.cancel();
    else if (phase.t === "backoff") phase.timer.cancel();
    else if (phase.t === "connecting") phase.pool.cancel(phase.waiter);
    // Whatever the client still sends is dropped: node only frees a server stream once its
    // readable side ends, which a paused stream never does.
    if (!this.ds.closed) this.ds.resume();
    this.attempts?.admission.end(!local);
    if (phase.t === "open") phase.pool.release(phase.conn);
    const onEnd = this.hooks.onEnd;
    if (onEnd !== undefined) {
      onEnd({
        cluster: this.cluster.name,
        endpoint: this.attempts?.endpoint?.key ?? null,
        status,
        local,
        durationMs: this.cluster.clock.now() - this.startedAt,
        requestBytes: this.client.bytes,
        responseBytes: this.responseBytes,
        authority: this.client.authority,
        path: this.client.path,
        retries: this.attempts?.admission.retries ?? 0,
        flag,
      });
    }
  }

  // --- client events, via the ClientSide ---

  keepForReplay(bytes: number): boolean {
    const hooks = this.hooks;
    return this.attempts?.admission.keepForReplay(bytes, hooks.retryBufferLimit, hooks.retryBufferBudget) ?? false;
  }

  replayDropped(): void {
    this.attempts?.admission.dropReplay();
  }

  onClientData(chunk: Buffer): void {
    const phase = this.phase;
    if (phase.t === "done") return;
    this.client.record(chunk);
    if (phase.t === "open" && !phase.stream.write(chunk)) this.ds.pause();
  }

  onClientEnd(): void {
    const phase = this.phase;
    if (phase.t === "done") return;
    this.client.ended = true;
    if (phase.t === "open") phase.stream.end();
  }

  onClientReset(code: number): void {
    const phase = this.phase;
    if (phase.t === "done") return;
    trace("client cancelled", { cluster: this.cluster.name, code: h2CodeName(code) });
    if (phase.t === "open") {
      this.admission.attemptEnded(AttemptEnd.CANCELLED, -1);
      phase.stream.reset(H2Code.CANCEL);
    }
    this.finish(Status.CANCELLED, false, ResponseFlag.DOWNSTREAM_CONNECTION_TERMINATION);
    // After finishing: closing the connection resets its other streams, whose forwarders end too.
    if (phase.t === "open" && !this.hooks.prematureCancels.allow(this.cluster.clock.now() - this.startedAt, this.conn)) {
      this.conn.goaway(H2Code.ENHANCE_YOUR_CALM, "too many streams cancelled at once, across connections");
    }
  }

  onClientDrain(): void {
    const phase = this.phase;
    if (phase.t === "open") phase.stream.resume();
  }

  // --- upstream (backend) side events, via the UpstreamSide; an earlier attempt's are ignored ---

  onBackendHeaders(side: UpstreamSide, headers: Headers, endStream: boolean): void {
    if (this.phase !== side) return;
    const httpStatus = Number(headers[":status"]);
    if (endStream) {
      // Trailers-only: the whole answer is here, so a retriable status can still be retried.
      const status = grpcStatusOf(headers);
      this.admission.attemptEnded(AttemptEnd.RESPONSE, status ?? -1);
      if (
        this.client.replayable &&
        this.retryAfter({ kind: "response", grpcStatus: status ?? -1, httpStatus }, `grpc-status ${status} (:status ${httpStatus})`)
      )
        return;
    } else if (httpStatus !== 200 && this.client.replayable) {
      // Not a gRPC answer (a proxy or server error page): retriable by its :status.
      if (this.retryAfter({ kind: "response", grpcStatus: -1, httpStatus }, `:status ${httpStatus}`, true)) {
        // Reported here only when retried; an answer passed on is reported when it ends.
        this.admission.attemptEnded(AttemptEnd.RESPONSE, grpcStatusOfHttp(httpStatus));
        return;
      }
    }
    this.client.noReplay(); // the response begins: no more retries
    if (side.tryTimer !== undefined) {
      // As Envoy, a per-try timeout no longer applies once the response has started.
      side.tryTimer.cancel();
      side.tryTimer = undefined;
    }
    this.ds.respond(headers, endStream);
    if (endStream) this.finish(grpcStatusOf(headers), false, ResponseFlag.NONE);
  }

  onBackendData(side: UpstreamSide, chunk: Buffer): void {
    if (this.phase !== side) return;
    this.responseBytes += chunk.length;
    if (!this.ds.write(chunk)) side.stream.pause();
  }

  onBackendTrailers(side: UpstreamSide, trailers: Headers): void {
    if (this.phase !== side) return;
    this.ds.end(trailers);
    const status = grpcStatusOf(trailers);
    this.admission.attemptEnded(AttemptEnd.RESPONSE, status ?? -1);
    this.finish(status, false, ResponseFlag.NONE);
  }

  onBackendEnd(side: UpstreamSide): void {
    if (this.phase !== side) return;
    this.admission.attemptEnded(AttemptEnd.RESET, -1);
    this.failLocal(NO_TRAILERS);
  }

  onBackendReset(side: UpstreamSide, code: number, reason: string, connectionLost: boolean): void {
    if (this.phase !== side) return;
    // Never sent: the connection could take no stream.
    if (side.stream instanceof RefusedStream && this.replayTransparently(reason)) return;
    const refused = code === H2Code.REFUSED_STREAM;
    // A refused stream was not processed (RFC 9113 8.7): not the endpoint's failure.
    if (!refused) this.admission.attemptEnded(AttemptEnd.RESET, -1);
    const detail = resetDetail(reason, this.ds.responded, code, this.attempts!.endpoint!.key);
    if (this.retryAfter(refused ? REFUSED_STREAM : RESET, detail)) return;
    this.failLocal(resetStatus(code, connectionLost, this.ds.responded, this.attempts!.withRefusal(detail)));
  }

  onBackendDrain(side: UpstreamSide): void {
    if (this.phase === side) this.ds.resume();
  }
}
