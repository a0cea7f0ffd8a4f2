// HTTP/2 connections to one endpoint (a gRPC "subchannel" with several connections).
//
// The endpoint has one explicit state, as gRPC channels do: IDLE (nothing open, nothing
// wanted), CONNECTING (an attempt in progress, none ready), READY (a connection can take
// streams), TRANSIENT_FAILURE (the last attempt failed; the next one waits for the
// backoff), SHUTDOWN (the endpoint left the cluster, or the proxy stops). Every change goes
// through transition(), which checks it against the table and traces it.
//
// Connections open lazily when a stream is needed and none has room; each offers
// min(peer MAX_CONCURRENT_STREAMS, http.maxConcurrentStreams, streams left before cycling)
// streams, up to tcp.maxConnections connections; past that, requests wait in a queue bounded
// by http1MaxPendingRequests (counted per cluster). After maxRequestsPerConnection streams a
// connection takes no more and closes once its in-flight streams finish; idle timeouts,
// tcp.maxConnectionDuration and the backend's GOAWAY retire connections the same graceful way.
// A retired (draining) connection takes no new stream, so it does not count against
// tcp.maxConnections: a backend that sends GOAWAY and leaves its side open must not use up the
// limit and leave every new request waiting. Draining connections stay bounded all the same:
// each holds at least one stream in flight (http2MaxRequests bounds those), and the transport
// closes it once its last stream ends (h2/connection.ts; close-after-fin.ts bounds the close).
import type { Clock, TimerHandle } from "../core/clock.js";
import type { Random } from "../core/random.js";
import { ErrorCode, SluiceError } from "../core/errors.js";
import { Status } from "../core/status.js";
import { logger, tracer } from "../core/trace.js";
import type { ClientConnection, ClientTransport, Headers, Stream, StreamListener } from "../transport/types.js";
import type { UpstreamTlsContext } from "../transport/tls/client-tls.js";
import { Backoff } from "../core/backoff.js";

/**
 * Streams the proxy may cancel on one upstream connection before it moves to a new one.
 * nghttp2 (under node:http2 and so grpc-js servers) ends a connection once its client resets
 * about 1,000 streams in a burst; half of that leaves room for the streams still in flight.
 */
export const MAX_RESETS_PER_CONNECTION = 500;

const trace = tracer("pool");

export interface PoolSettings {
  /** For messages. */
  readonly cluster: string;
  /** gRPC's MIN_CONNECT_TIMEOUT: Istio's tcp.connectTimeout. */
  readonly connectTimeoutMs: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly maxConcurrentStreams: number;
  readonly maxConnections: number;
  /** A connection without streams this long is closed (min of tcp and http idleTimeout). */
  readonly idleTimeoutMs: number;
  /** tcp.maxConnectionDuration; null = none. */
  readonly maxConnectionDurationMs: number | null;
  /** Keepalive pings on READY connections (the Proxy resource's upstream.keepalive). */
  readonly keepalive: { readonly timeMs: number | null; readonly timeoutMs: number };
  /** Requests waiting for a connection, shared by the cluster's pools (http1MaxPendingRequests). */
  readonly pending: PendingBudget;
  readonly clock: Clock;
  readonly random: Random;
  /** Told of state changes and closed connections (metrics, tests). */
  readonly observer?: PoolObserver;
}

export interface PoolObserver {
  stateChanged?(from: PoolState, to: PoolState, why: string): void;
  connectionClosed?(id: number, error: Error | undefined): void;
}

export interface PendingBudget {
  /** Changes on a config reload. */
  limit: number;
  count: number;
  /** Requests refused because the queue was full. */
  overflows: number;
}

export const PoolState = {
  IDLE: "IDLE",
  CONNECTING: "CONNECTING",
  READY: "READY",
  TRANSIENT_FAILURE: "TRANSIENT_FAILURE",
  SHUTDOWN: "SHUTDOWN",
} as const;
export type PoolState = (typeof PoolState)[keyof typeof PoolState];

const POOL_TRANSITIONS: Record<PoolState, readonly PoolState[]> = {
  // TRANSIENT_FAILURE from IDLE: a draining connection's keepalive ping went unanswered.
  IDLE: ["CONNECTING", "TRANSIENT_FAILURE", "SHUTDOWN"],
  CONNECTING: ["READY", "TRANSIENT_FAILURE", "IDLE", "SHUTDOWN"],
  // TRANSIENT_FAILURE from READY: the last ready connection's keepalive ping went unanswered.
  READY: ["IDLE", "CONNECTING", "TRANSIENT_FAILURE", "SHUTDOWN"],
  TRANSIENT_FAILURE: ["IDLE", "READY", "SHUTDOWN"],
  SHUTDOWN: [],
};

type ConnState = "CONNECTING" | "READY" | "DRAINING" | "CLOSED";

const CONN_TRANSITIONS: Record<ConnState, readonly ConnState[]> = {
  CONNECTING: ["READY", "CLOSED"],
  READY: ["DRAINING", "CLOSED"],
  DRAINING: ["CLOSED"],
  CLOSED: [],
};

export class PooledConnection {
  state: ConnState = "CONNECTING";
  /** Streams in flight. */
  active = 0;
  /** Streams ever opened (for maxRequestsPerConnection). */
  opened = 0;
  conn!: ClientConnection;
  /** Idle timeout while no stream is in flight; the connection's age limit while READY. */
  idleTimer: TimerHandle | undefined;
  /** When the last stream ended (the idle timeout counts from here). */
  idleSince = 0;
  ageTimer: TimerHandle | undefined;
  pingTimer: TimerHandle | undefined;

  /** Its keepalive ping went unanswered: the endpoint backs off as after a failed connect. */
  unresponsive = false;

  constructor(readonly id: number) {}

  transition(to: ConnState, why: string): boolean {
    if (!CONN_TRANSITIONS[this.state].includes(to)) return false;
    trace("connection state", { id: this.id, from: this.state, to, why });
    this.state = to;
    return true;
  }
}

/** A request's connection could not be made: it never reached the backend (safe to retry elsewhere). */
export class ConnectFailure extends SluiceError {
  override readonly name = "ConnectFailure";
  readonly code = ErrorCode.CONNECT_FAILURE;
  override readonly grpcStatus = Status.UNAVAILABLE;
}

/** The endpoint left the cluster (or the pool closed) before the request got a connection: nothing was sent. */
export class EndpointGone extends SluiceError {
  override readonly name = "EndpointGone";
  readonly code = ErrorCode.ENDPOINT_GONE;
  override readonly grpcStatus = Status.UNAVAILABLE;
}

/** The endpoint's pending-request queue is full (http1MaxPendingRequests): refused without waiting. */
export class PendingOverflow extends SluiceError {
  override readonly name = "PendingOverflow";
  readonly code = ErrorCode.PENDING_OVERFLOW;
  override readonly grpcStatus = Status.UNAVAILABLE;
}

export type AcquireCallback = (conn: PooledConnection | SluiceError) => void;

let nextId = 1;

export class EndpointPool {
  private readonly connections: PooledConnection[] = [];
  private readonly waiters: AcquireCallback[] = [];
  private poolState: PoolState = PoolState.IDLE;
  /** Set by retireWhenIdle(): retire once no request is in flight or waiting. */
  private retiring = false;
  private readonly backoff: Backoff;
  private backoffTimer: TimerHandle | undefined;
  /** Why the last connect attempt failed, for the errors of requests that meet the backoff. */
  private lastFailure = "";
  /** Why the last connect failed ("" before any failure). */
  get lastConnectFailure(): string {
    return this.lastFailure;
  }
  /** Connections this pool has opened (attempts included), for stats. */
  connectionsOpened = 0;

  constructor(
    readonly address: string,
    readonly port: number,
    private settings: PoolSettings,
    private readonly transport: ClientTransport,
    /** TLS to this endpoint; undefined: plaintext. */
    private readonly tls?: UpstreamTlsContext,
  ) {
    this.backoff = new Backoff(settings.random);
  }

  /**
   * A config reload: from now on connects, stream limits and timers use these settings;
   * streams in flight and timers already set are left as they are.
   */
  updateSettings(settings: Omit<PoolSettings, "observer">): void {
    this.settings = this.settings.observer === undefined ? settings : { ...settings, observer: this.settings.observer };
  }

  get state(): PoolState {
    return this.poolState;
  }

  private get target(): string {
    return this.address.includes(":") ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`;
  }

  /** The one place the endpoint's state changes. */
  private transition(to: PoolState, why: string): void {
    const from = this.poolState;
    if (from === to) return;
    // A bug, not an outage: say so loudly but follow the facts rather than take the process down.
    if (!POOL_TRANSITIONS[from].includes(to)) logger.error({ endpoint: this.target, from, to, why }, "endpoint state change outside the transition table");
    trace("endpoint state", { target: this.target, from, to, why });
    this.poolState = to;
    this.settings.observer?.stateChanged?.(from, to, why);
  }

  /** Works out the state from the connections and the backoff, after anything changed. */
  private refresh(why: string): void {
    if (this.poolState === PoolState.SHUTDOWN) return;
    let to: PoolState = PoolState.IDLE;
    if (this.connections.some((c) => c.state === "READY")) to = PoolState.READY;
    else if (this.connections.some((c) => c.state === "CONNECTING")) to = PoolState.CONNECTING;
    else if (this.backoffTimer !== undefined) to = PoolState.TRANSIENT_FAILURE;
    this.transition(to, why);
  }

  /** Connections open or opening, draining ones included (Envoy's upstream_cx_active). */
  get connectionCount(): number {
    let n = 0;
    for (const c of this.connections) if (c.state !== "CLOSED") n++;
    return n;
  }

  /** Connections retired (GOAWAY, age, idle, request limit) that wait for their streams to end. */
  get drainingConnectionCount(): number {
    let n = 0;
    for (const c of this.connections) if (c.state === "DRAINING") n++;
    return n;
  }

  /** A READY connection with room for one stream right now, if there is one. */
  tryAcquire(): PooledConnection | undefined {
    return this.findReady();
  }

  /**
   * Calls back with a READY connection that has room for one stream, or an error. The
   * callback must open its stream (openStream) before returning, or not use the connection.
   */
  acquire(cb: AcquireCallback): void {
    const ready = this.findReady();
    if (ready !== undefined) return cb(ready);
    if (this.poolState === PoolState.SHUTDOWN) return cb(new EndpointGone("upstream endpoint removed"));
    if (this.poolState === PoolState.TRANSIENT_FAILURE) return cb(this.backingOff());
    const pending = this.settings.pending;
    if (pending.count >= pending.limit) {
      pending.overflows++;
      return cb(new PendingOverflow(`upstream overflow: http1MaxPendingRequests limit (${pending.limit}) reached for ${this.settings.cluster}`));
    }
    pending.count++;
    this.waiters.push(cb);
    this.openForWaiters();
  }

  /** Opens a stream on a connection obtained from acquire(). */
  openStream(pc: PooledConnection, headers: Headers, listener: StreamListener): Stream {
    pc.active++;
    pc.opened++;
    const limit = this.settings.maxRequestsPerConnection;
    if (limit > 0 && pc.opened >= limit) this.startDraining(pc, "maxRequestsPerConnection reached");
    return pc.conn.open(headers, listener);
  }

  /** A stream opened with openStream() ended. */
  release(pc: PooledConnection): void {
    pc.active--;
    // Cancels reach the backend one for one. Past its own limit an nghttp2 server (grpc-js)
    // ends the connection with GOAWAY and fails every stream on it, other clients' included:
    // so a new connection takes over before, and this one only finishes its streams.
    if (pc.state === "READY" && pc.conn.resetsSent >= MAX_RESETS_PER_CONNECTION) {
      if (this.startDraining(pc, `${pc.conn.resetsSent} streams cancelled on it`) && this.waiters.length > 0) this.openForWaiters();
    }
    if (pc.state === "DRAINING" && pc.active === 0) {
      pc.conn.drain();
    } else if (this.waiters.length > 0) {
      if (this.hasRoom(pc)) this.serveWaiters(pc);
      else this.openForWaiters();
    } else if (pc.active === 0 && pc.state === "READY") {
      this.armIdle(pc);
    }
    if (this.retiring) this.retireIfIdle();
  }

  /**
   * The cluster left the config: the requests already routed here, in flight or waiting for a
   * connection, are still served; once none is left, the pool retires. `now`: check at once
   * (false for a pool created for a request that is about to acquire).
   */
  retireWhenIdle(now = true): void {
    this.retiring = true;
    if (now) this.retireIfIdle();
  }

  private retireIfIdle(): void {
    if (this.poolState === PoolState.SHUTDOWN || this.waiters.length > 0 || this.connections.some((pc) => pc.active > 0)) return;
    this.retire();
  }

  /** The endpoint went away: no new streams; connections close as their streams finish. */
  retire(): void {
    this.shutdown("endpoint removed");
    for (const pc of this.connections) {
      pc.transition("DRAINING", "endpoint removed");
      if (pc.active === 0) pc.conn.drain();
    }
    this.failWaiters(new EndpointGone("upstream endpoint removed"));
  }

  close(): void {
    this.shutdown("pool closed");
    for (const pc of [...this.connections]) pc.conn.destroy();
    this.failWaiters(new EndpointGone("upstream pool closed"));
  }

  /** Forgets a waiter whose RPC ended before a connection came. */
  cancel(cb: AcquireCallback): void {
    const i = this.waiters.indexOf(cb);
    if (i >= 0) {
      this.waiters.splice(i, 1);
      this.settings.pending.count--;
    }
    if (this.retiring) this.retireIfIdle();
  }

  private shutdown(why: string): void {
    this.backoffTimer?.cancel();
    this.backoffTimer = undefined;
    this.transition(PoolState.SHUTDOWN, why);
  }

  private backingOff(): SluiceError {
    return new ConnectFailure(`upstream connect error: ${this.lastFailure} (reconnecting with backoff)`);
  }

  /** Connections that count against tcp.maxConnections: opening or taking streams (not draining). */
  private usableCount(): number {
    let n = 0;
    for (const c of this.connections) if (c.state === "CONNECTING" || c.state === "READY") n++;
    return n;
  }

  private capacity(pc: PooledConnection): number {
    const s = this.settings;
    const left = s.maxRequestsPerConnection > 0 ? s.maxRequestsPerConnection - pc.opened : Infinity;
    return Math.min(pc.conn.peerMaxConcurrentStreams, s.maxConcurrentStreams, left) - pc.active;
  }

  private findReady(): PooledConnection | undefined {
    for (const pc of this.connections) {
      if (this.hasRoom(pc)) return pc;
    }
    return undefined;
  }

  /** READY, still open (node closes streams before it reports the session gone), with room. */
  private hasRoom(pc: PooledConnection): boolean {
    return pc.state === "READY" && pc.conn.usable && this.capacity(pc) > 0;
  }

  /** Waiters remain but no connection can take them: open one if the limits allow. */
  private openForWaiters(): void {
    const ready = this.findReady();
    if (ready !== undefined) return this.serveWaiters(ready);
    if (this.poolState === PoolState.SHUTDOWN || this.backoffTimer !== undefined) return;
    this.openAsNeeded();
  }

  /**
   * Opens connections in parallel for the requests waiting, as many as their streams need
   * (a connection takes at most maxConcurrentStreams, or maxRequestsPerConnection, streams),
   * counting those already connecting, within tcp.maxConnections.
   */
  private openAsNeeded(): void {
    const s = this.settings;
    const perConnection = Math.max(1, Math.min(s.maxConcurrentStreams, s.maxRequestsPerConnection > 0 ? s.maxRequestsPerConnection : Infinity));
    let connecting = 0;
    for (const c of this.connections) if (c.state === "CONNECTING") connecting++;
    let needed = Math.max(1, Math.ceil(this.waiters.length / perConnection)) - connecting;
    while (needed-- > 0 && this.usableCount() < s.maxConnections) this.openConnection();
  }

  private openConnection(): void {
    this.connectionsOpened++;
    const pc = new PooledConnection(nextId++);
    this.connections.push(pc);
    const { clock } = this.settings;
    const timeoutMs = this.backoff.attempt(clock.now(), this.settings.connectTimeoutMs);
    trace("connect", { id: pc.id, target: this.target, timeoutMs: Math.round(timeoutMs) });
    pc.conn = this.transport.connect(
      this.tls === undefined
        ? { host: this.address, port: this.port, connectTimeoutMs: timeoutMs }
        : { host: this.address, port: this.port, connectTimeoutMs: timeoutMs, tls: this.tls },
      {
        onReady: () => {
          if (!pc.transition("READY", "peer settings received")) return;
          this.backoff.reset();
          this.armAge(pc);
          this.armPing(pc);
          this.refresh(`connection ${pc.id} ready`);
          this.serveWaiters(pc);
          if (pc.active === 0 && this.waiters.length === 0) this.armIdle(pc);
        },
        onGoaway: () => {
          // Requests waiting need another connection, which this one no longer keeps from opening.
          if (this.startDraining(pc, "peer sent GOAWAY") && this.waiters.length > 0) this.openForWaiters();
        },
        onClose: (error) => this.onConnectionClosed(pc, error),
      },
    );
    this.refresh(`connecting ${pc.id}`);
  }

  private onConnectionClosed(pc: PooledConnection, error: Error | undefined): void {
    const wasConnecting = pc.state === "CONNECTING";
    pc.transition("CLOSED", error?.message ?? "closed");
    pc.idleTimer?.cancel();
    pc.ageTimer?.cancel();
    pc.pingTimer?.cancel();
    const i = this.connections.indexOf(pc);
    if (i >= 0) this.connections.splice(i, 1);
    this.settings.observer?.connectionClosed?.(pc.id, error);
    if (this.poolState === PoolState.SHUTDOWN) return;
    if (wasConnecting || pc.unresponsive) {
      this.lastFailure = pc.unresponsive ? `keepalive ping unanswered for ${this.settings.keepalive.timeoutMs}ms` : describeConnectError(error);
      // Attempts made in parallel that fail together are one round of the backoff.
      if (this.backoffTimer === undefined) {
        const { clock } = this.settings;
        // An unanswered ping fails a connection that was READY (which reset the backoff): its
        // round starts now. Counted from that long-ago connect, the wait was 0 and the
        // endpoint went straight back to IDLE, where least-request, seeing nothing in flight
        // on it, sent most new RPCs to wait on a connection to the still frozen backend.
        if (pc.unresponsive) this.backoff.attempt(clock.now(), 0);
        const waitMs = this.backoff.failed(clock.now());
        trace("connect failed", { target: this.target, error: this.lastFailure, retryInMs: Math.round(waitMs) });
        this.backoffTimer = clock.setTimer(waitMs, () => this.onBackoffOver());
      }
      this.refresh(`connect failed: ${this.lastFailure}`);
      // Another attempt still in progress may yet serve the requests waiting (they were
      // spread over parallel connects, not given one each): they fail with the last one.
      if (this.connections.some((c) => c.state === "CONNECTING")) return;
      this.failWaiters(new ConnectFailure(`upstream connect error: ${this.lastFailure}`, { cause: error }));
      return;
    }
    this.refresh(`connection ${pc.id} closed`);
    if (this.waiters.length > 0) this.openForWaiters();
  }

  /**
   * `pc` takes no new stream from now on (GOAWAY, age, idle or request limit): the endpoint's
   * state follows (READY only while another connection is), and the connection no longer
   * counts against tcp.maxConnections.
   */
  private startDraining(pc: PooledConnection, why: string): boolean {
    if (!pc.transition("DRAINING", why)) return false;
    this.refresh(`connection ${pc.id} draining (${why})`);
    return true;
  }

  /** gRPC goes back to IDLE after the backoff; a request waiting (or the next one) connects. */
  private onBackoffOver(): void {
    this.backoffTimer = undefined;
    this.refresh("backoff over");
    if (this.waiters.length > 0) this.openForWaiters();
  }

  /**
   * The connection has no stream now. One timer per connection, not one per idle spell: a
   * busy connection goes idle between most RPCs, so when the timer fires it checks how long
   * the connection has really been idle and waits again for the rest.
   */
  private armIdle(pc: PooledConnection): void {
    pc.idleSince = this.settings.clock.now();
    if (pc.idleTimer === undefined) this.scheduleIdleCheck(pc, this.settings.idleTimeoutMs);
  }

  private scheduleIdleCheck(pc: PooledConnection, delayMs: number): void {
    pc.idleTimer = this.settings.clock.setTimer(delayMs, () => {
      pc.idleTimer = undefined;
      // Busy now: the release that ends its last stream arms the check again.
      if (pc.active > 0 || pc.state !== "READY") return;
      const left = this.settings.idleTimeoutMs - (this.settings.clock.now() - pc.idleSince);
      if (left > 0) return this.scheduleIdleCheck(pc, left);
      this.startDraining(pc, "idle timeout");
      pc.conn.drain();
    });
  }

  private armAge(pc: PooledConnection): void {
    const max = this.settings.maxConnectionDurationMs;
    if (max === null) return;
    pc.ageTimer = this.settings.clock.setTimer(max, () => {
      pc.ageTimer = undefined;
      if (!this.startDraining(pc, "maxConnectionDuration reached")) return;
      if (pc.active === 0) pc.conn.drain();
      // Requests still waiting need another connection.
      if (this.waiters.length > 0) this.openForWaiters();
    });
  }

  /**
   * Keepalive: a PING every keepalive.time while the connection lives; no ACK within
   * keepalive.timeout and the backend is taken for dead (a stopped process, a lost host):
   * the connection is closed, its streams fail (UNAVAILABLE), and the endpoint goes to
   * TRANSIENT_FAILURE so new requests go elsewhere while it backs off.
   */
  private armPing(pc: PooledConnection): void {
    const { timeMs, timeoutMs } = this.settings.keepalive;
    if (timeMs === null) return;
    pc.pingTimer = this.settings.clock.setTimer(timeMs, () => {
      pc.pingTimer = undefined;
      if (pc.state === "CLOSED") return;
      pc.conn.ping((ok) => {
        if (pc.state === "CLOSED") return;
        if (ok) return this.armPing(pc);
        trace("keepalive timeout", { id: pc.id, target: this.target, timeoutMs });
        pc.unresponsive = true;
        pc.conn.destroy();
      }, timeoutMs);
    });
  }

  private serveWaiters(pc: PooledConnection): void {
    while (this.waiters.length > 0) {
      if (this.hasRoom(pc)) {
        const cb = this.waiters.shift()!;
        this.settings.pending.count--;
        // Reserve now so the next waiter sees the capacity that is really left.
        cb(pc);
        continue;
      }
      // This connection is full: more waiters need more.
      if (this.backoffTimer === undefined && this.poolState !== PoolState.SHUTDOWN) this.openAsNeeded();
      return;
    }
  }

  private failWaiters(err: SluiceError): void {
    const waiters = this.waiters.splice(0);
    this.settings.pending.count -= waiters.length;
    for (const cb of waiters) cb(err);
    if (this.retiring) this.retireIfIdle();
  }
}

function describeConnectError(error: Error | undefined): string {
  if (error === undefined) return "connection closed before it was ready";
  // A SluiceError's code names its class, not an errno: its message says it all.
  const code = error instanceof SluiceError ? undefined : (error as NodeJS.ErrnoException).code;
  return code !== undefined ? `${code} (${error.message})` : error.message;
}
