// The forwarder's phase, one tagged union instead of a flag per condition. idle: no attempt
// in progress (before the first, or while the next step after one is decided); connecting:
// waiting in an endpoint pool's queue for a connection; open: an attempt's stream to the
// backend; backoff: waiting to retry; done: the client has its status and everything the
// RPC held is released. Each phase holds what must be let go of when it is left.
import type { TimerHandle } from "../core/clock.js";
import type { Headers, Stream, StreamListener } from "../transport/types.js";
import type { AcquireCallback, EndpointPool, PooledConnection } from "../upstream/endpoint-pool.js";

export type Phase = typeof IDLE | Connecting | UpstreamSide | Backoff | typeof DONE;

export const IDLE = { t: "idle" } as const;
export const DONE = { t: "done" } as const;

export interface Connecting {
  readonly t: "connecting";
  readonly pool: EndpointPool;
  /** Our place in the pool's queue. */
  readonly waiter: AcquireCallback;
}

export interface Backoff {
  readonly t: "backoff";
  readonly timer: TimerHandle;
}

export interface BackendEvents {
  onBackendHeaders(side: UpstreamSide, headers: Headers, endStream: boolean): void;
  onBackendData(side: UpstreamSide, chunk: Buffer): void;
  onBackendTrailers(side: UpstreamSide, trailers: Headers): void;
  onBackendEnd(side: UpstreamSide): void;
  onBackendReset(side: UpstreamSide, code: number, reason: string, connectionLost: boolean): void;
  onBackendDrain(side: UpstreamSide): void;
}

/**
 * The open phase: one attempt's stream to the backend, and the listener of that stream,
 * routing its events to the forwarder, which heeds them only while this is its phase (an
 * earlier attempt's late events are ignored).
 */
export class UpstreamSide implements StreamListener {
  readonly t = "open";
  /** Set as soon as the pool has opened it (a transport never calls its listener from inside open()). */
  stream!: Stream;
  /** The perTryTimeout, until the response starts. */
  tryTimer: TimerHandle | undefined;

  constructor(
    private readonly f: BackendEvents,
    readonly pool: EndpointPool,
    readonly conn: PooledConnection,
  ) {}

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
