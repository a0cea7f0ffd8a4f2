// How long a downstream (client) connection lives, as gRPC servers decide it:
//   gRFC A9: maxConnectionIdle (no RPC in flight for that long: GOAWAY, close) and
//            maxConnectionAge (+-10% jitter: GOAWAY; in-flight RPCs get maxConnectionAgeGrace
//            to finish, then the connection is closed under them);
//   gRFC A8: keepalive enforcement (a client pinging more often than allowed earns strikes;
//            past 2, GOAWAY ENHANCE_YOUR_CALM "too_many_pings") and the proxy's own keepalive
//            pings (no ACK within the timeout: the client is gone, its streams are freed).
// Timers run on the injected clock; the PING's ACK timeout runs in the transport.
// The settings are validated and defaulted (src/config/): no checks here.
import type { DownstreamSettings } from "../config/types.js";
import type { Clock, TimerHandle } from "../core/clock.js";
import type { Random } from "../core/random.js";
import { allowedPingIntervalMs, jitteredAge, MAX_PING_STRIKES } from "../core/keepalive.js";
import { logger, tracer } from "../core/trace.js";
import { H2Code, type ServerConnection } from "../transport/types.js";

const trace = tracer("lifetime");

/**
 * What happened to a connection, for tests and (later) the admin server: a client's ping and
 * the strikes it has; the last RPC in flight ended ("idle-start", only with maxConnectionIdle);
 * the connection closed; or why we closed or drained it.
 */
export type LifetimeEvent =
  | { readonly kind: "ping"; readonly conn: number; readonly strikes: number }
  | { readonly kind: "idle-start" | "closed"; readonly conn: number }
  | { readonly kind: CloseReason; readonly conn: number };

type CloseReason = "idle" | "max-age" | "grace-expired" | "too-many-pings" | "keepalive-timeout";

/** Counters; the Envoy statistic each one matches, where there is one, in the comment. */
export interface LifetimeStats {
  /** downstream_cx_idle_timeout: closed by maxConnectionIdle. */
  idleTimeouts: number;
  /** downstream_cx_max_duration_reached: GOAWAY at maxConnectionAge. */
  maxAgeDrains: number;
  /** Closed with RPCs still in flight when maxConnectionAgeGrace ran out. */
  graceExpired: number;
  /** GOAWAY ENHANCE_YOUR_CALM "too_many_pings" sent. */
  tooManyPings: number;
  /** http2.keepalive_timeout: our PING went unanswered; the connection was closed. */
  keepaliveTimeouts: number;
}

/** Per connection, once something needs more than the time it opened at. */
interface ConnState {
  readonly conn: ServerConnection;
  readonly openedAt: number;
  // Keepalive enforcement.
  lastValidPingAt: number;
  strikes: number;
  /** conn.headersOrDataSent at the last ping. */
  sentMark: number;
  // Timers.
  /** Armed while no RPC is in flight; idleSince says since when. */
  idleTimer: TimerHandle | undefined;
  idleSince: number;
  /** maxConnectionAge, then maxConnectionAgeGrace. */
  ageTimer: TimerHandle | undefined;
  /** Next keepalive PING of ours, or undefined while one awaits its ACK. */
  pingTimer: TimerHandle | undefined;
  /** GOAWAY sent at maxConnectionAge: idleness no longer matters. */
  draining: boolean;
  /** We closed it (or it closed): no more timers or strikes. */
  closed: boolean;
}

export class DownstreamLifetime {
  readonly stats: LifetimeStats = { idleTimeouts: 0, maxAgeDrains: 0, graceExpired: 0, tooManyPings: 0, keepaliveTimeouts: 0 };
  /**
   * Every open connection. With the defaults (only enforcement on) the value is just the time
   * it opened, made into a ConnState when it first pings: idle connections stay cheap.
   */
  private readonly conns = new Map<ServerConnection, ConnState | number>();
  /** Whether connections need a ConnState from the start (a timer of theirs is configured). */
  private readonly timed: boolean;

  constructor(
    private readonly settings: DownstreamSettings,
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly onEvent: ((event: LifetimeEvent) => void) | undefined = undefined,
  ) {
    this.timed = settings.maxConnectionIdleMs !== null || settings.maxConnectionAgeMs !== null || settings.keepalive.timeMs !== null;
  }

  /** Idle tracking needs to hear of every stream's end (ServerHandlers.onStreamClose). */
  get tracksStreams(): boolean {
    return this.settings.maxConnectionIdleMs !== null;
  }

  onConnection(conn: ServerConnection): void {
    const now = this.clock.now();
    if (!this.timed) {
      this.conns.set(conn, now);
      return;
    }
    const st = this.state(conn, now);
    const { maxConnectionAgeMs: age, keepalive } = this.settings;
    if (age !== null) {
      st.ageTimer = this.clock.setTimer(jitteredAge(age, this.random), () => this.onMaxAge(st));
    }
    if (this.settings.maxConnectionIdleMs !== null) this.armIdle(st, this.settings.maxConnectionIdleMs);
    if (keepalive.timeMs !== null) st.pingTimer = this.clock.setTimer(keepalive.timeMs, () => this.sendPing(st));
  }

  onStreamClose(conn: ServerConnection): void {
    const idle = this.settings.maxConnectionIdleMs;
    if (idle === null || conn.activeStreams > 0) return;
    const st = this.conns.get(conn);
    if (st === undefined || typeof st === "number" || st.draining) return;
    st.idleSince = this.clock.now();
    this.onEvent?.({ kind: "idle-start", conn: conn.id });
    if (st.idleTimer === undefined) this.armIdle(st, idle);
  }

  /** The client pinged us (gRFC A8 enforcement). */
  onPing(conn: ServerConnection): void {
    const entry = this.conns.get(conn);
    if (entry === undefined || (typeof entry !== "number" && entry.closed)) return;
    const now = this.clock.now();
    const st = typeof entry === "number" ? this.state(conn, entry) : entry;
    if (conn.headersOrDataSent !== st.sentMark) {
      // We sent HEADERS or DATA since the last ping: the client may be answering them (a BDP
      // ping). grpc-go forgives every strike then, and so do we.
      st.sentMark = conn.headersOrDataSent;
      st.strikes = 0;
      st.lastValidPingAt = now;
    } else {
      const ka = this.settings.keepalive;
      const allowed = allowedPingIntervalMs(conn.activeStreams, ka.minPingIntervalMs, ka.permitWithoutCalls);
      // Measured from the last acceptable ping, or from the connection's start (grpc-java).
      if (now - st.lastValidPingAt >= allowed) st.lastValidPingAt = now;
      else st.strikes++;
    }
    if (trace.on) trace("ping received", { conn: conn.id, strikes: st.strikes, streams: conn.activeStreams });
    this.onEvent?.({ kind: "ping", conn: conn.id, strikes: st.strikes });
    if (st.strikes > MAX_PING_STRIKES) {
      this.stats.tooManyPings++;
      logger.warn(
        {
          conn: conn.id,
          peer: `${conn.remoteAddress}:${conn.remotePort}`,
          minPingIntervalMs: this.settings.keepalive.minPingIntervalMs,
          permitWithoutCalls: this.settings.keepalive.permitWithoutCalls,
        },
        "client pings too often (gRFC A8): GOAWAY ENHANCE_YOUR_CALM too_many_pings",
      );
      this.close(st, "too-many-pings", () => conn.goaway(H2Code.ENHANCE_YOUR_CALM, "too_many_pings"));
    }
  }

  onConnectionClose(conn: ServerConnection): void {
    const st = this.conns.get(conn);
    if (st === undefined) return;
    this.conns.delete(conn);
    if (typeof st !== "number") this.forget(st);
    this.onEvent?.({ kind: "closed", conn: conn.id });
  }

  /** The proxy stops: no more timers (the connections are drained and closed by the transport). */
  stop(): void {
    for (const st of this.conns.values()) if (typeof st !== "number") this.forget(st);
    this.conns.clear();
  }

  // --- internals ---

  private state(conn: ServerConnection, openedAt: number): ConnState {
    const st: ConnState = {
      conn,
      openedAt,
      lastValidPingAt: openedAt,
      strikes: 0,
      sentMark: 0,
      idleTimer: undefined,
      idleSince: openedAt,
      ageTimer: undefined,
      pingTimer: undefined,
      draining: false,
      closed: false,
    };
    this.conns.set(conn, st);
    return st;
  }

  private armIdle(st: ConnState, delayMs: number): void {
    st.idleTimer = this.clock.setTimer(delayMs, () => this.onIdleTimer(st));
  }

  private onIdleTimer(st: ConnState): void {
    st.idleTimer = undefined;
    if (st.closed || st.draining || st.conn.activeStreams > 0) return; // the next stream to close re-arms it
    const idle = this.settings.maxConnectionIdleMs!;
    const left = st.idleSince + idle - this.clock.now();
    if (left > 0) return this.armIdle(st, left); // RPCs came and went meanwhile
    this.stats.idleTimeouts++;
    this.close(st, "idle", () => st.conn.drain());
  }

  private onMaxAge(st: ConnState): void {
    st.ageTimer = undefined;
    if (st.closed) return;
    this.stats.maxAgeDrains++;
    this.emit(st, "max-age");
    st.draining = true;
    st.idleTimer?.cancel();
    st.idleTimer = undefined;
    st.conn.drain();
    const grace = this.settings.maxConnectionAgeGraceMs;
    // Without a grace period in-flight RPCs may take as long as they like (grpc-go's default).
    if (grace !== null) st.ageTimer = this.clock.setTimer(grace, () => this.onGraceExpired(st));
  }

  private onGraceExpired(st: ConnState): void {
    st.ageTimer = undefined;
    if (st.closed) return;
    this.stats.graceExpired++;
    this.close(st, "grace-expired", () => st.conn.destroy());
  }

  private sendPing(st: ConnState): void {
    st.pingTimer = undefined;
    if (st.closed) return;
    const { timeMs, timeoutMs } = this.settings.keepalive;
    st.conn.ping((ok) => {
      if (st.closed) return;
      if (ok) {
        st.pingTimer = this.clock.setTimer(timeMs!, () => this.sendPing(st));
        return;
      }
      this.stats.keepaliveTimeouts++;
      logger.info(
        { conn: st.conn.id, peer: `${st.conn.remoteAddress}:${st.conn.remotePort}`, timeoutMs },
        "client did not answer a keepalive PING: closing its connection",
      );
      this.close(st, "keepalive-timeout", () => st.conn.destroy());
    }, timeoutMs);
  }

  /** Reports `why`, stops the timers, then closes the connection with `how`. */
  private close(st: ConnState, why: CloseReason, how: () => void): void {
    this.emit(st, why);
    this.forget(st);
    how();
  }

  private emit(st: ConnState, kind: CloseReason): void {
    trace("connection lifetime", { conn: st.conn.id, event: kind, ageMs: Math.round(this.clock.now() - st.openedAt), streams: st.conn.activeStreams });
    this.onEvent?.({ kind, conn: st.conn.id });
  }

  private forget(st: ConnState): void {
    st.closed = true;
    st.idleTimer?.cancel();
    st.ageTimer?.cancel();
    st.pingTimer?.cancel();
    st.idleTimer = st.ageTimer = st.pingTimer = undefined;
  }
}
