// Every count an RPC holds on its cluster, taken and released in one place. The cluster
// admits an RPC (the http2MaxRequests circuit breaker) and hands back an Admission; while
// the RPC runs, the Admission counts it on the endpoint of each attempt (the balancers'
// activeRequests), holds a retry slot from its first retry (maxRetries / retryBudget), counts
// its retries, and holds the request bytes it keeps for a replay against the cluster's
// budget (retryBufferBudget); its one end() releases all of it exactly once, whatever happened
// before. It also times each attempt and reports how it ended to the cluster's outcome
// channel. The proxy's forwarder and the simulator both admit RPCs here, so they count alike.
//
// The cluster's counters are written in this file only; everyone else reads ClusterStats.
import type { AttemptEnd, AttemptOutcome } from "../balancer/outcome.js";
import type { PinMove } from "../balancer/connection-pins.js";
import type { LbEndpoint } from "../balancer/types.js";
import type { Cluster } from "../config/types.js";
import type { Clock } from "../core/clock.js";
import type { PendingBudget } from "./endpoint-pool.js";

/**
 * Envoy's upstream_rq_retry (retries started), _success (RPCs answered after a retry with a
 * status retryOn does not cover), _overflow (retries refused by maxRetries / the budget),
 * _limit_exceeded (retries wanted past the route's attempts); transparent: requests never
 * sent, replayed at once.
 */
export interface RetryStats {
  readonly retries: number;
  readonly successes: number;
  readonly overflows: number;
  readonly limitExceeded: number;
  readonly transparent: number;
}

/**
 * Connection mode: downstream connections whose pin to this cluster moved to another endpoint,
 * by why the pinned one could no longer be picked: it left the cluster, it was excluded
 * (ejected or failing health checks), or it could not be reached (TRANSIENT_FAILURE, or a
 * connect that failed before the request was sent).
 */
export type PinMoveStats = { readonly [why in PinMove]: number };

/**
 * Request bytes the cluster's RPCs keep so that a retry can replay them, from their first
 * byte to the response headers: `bytes` now, at most the Proxy resource's retryBufferBudget.
 * Requests no longer kept (and so not retried from then on), by the limit they met: their own
 * retryBufferLimit (`overLimit`), or the cluster's budget (`overBudget`); Envoy counts both
 * as retry_or_shadow_abandoned.
 */
export interface ReplayBufferStats {
  readonly bytes: number;
  readonly overLimit: number;
  readonly overBudget: number;
}

/** A cluster's request counts, read-only outside this file (metrics, admin, tests). */
export interface ClusterStats {
  /** RPCs admitted and not ended: the http2MaxRequests circuit breaker counts these. */
  readonly active: number;
  /** RPCs the circuit breaker refused. */
  readonly overflows: number;
  /** RPCs holding a retry slot (from their first retry to their end): maxRetries or the retry budget bound these. */
  readonly activeRetries: number;
  readonly retry: RetryStats;
  readonly pinMoves: PinMoveStats;
  readonly replayBuffer: ReplayBufferStats;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };
type Counts = Writable<Omit<ClusterStats, "retry" | "pinMoves" | "replayBuffer">> & {
  readonly retry: Writable<RetryStats>;
  readonly pinMoves: Writable<PinMoveStats>;
  readonly replayBuffer: Writable<ReplayBufferStats>;
};

/** What admission reads of its cluster, at each use: a reload's new limits apply from the next RPC. */
export interface AdmissionSource {
  readonly config: Cluster;
  /** Requests waiting for a connection: the retry budget is a share of active and waiting ones. */
  readonly pending: PendingBudget;
  readonly clock: Clock;
  /** Whether anyone listens to attempt outcomes (attempts are timed only then). */
  readonly observed: boolean;
  attemptEnded(outcome: AttemptOutcome): void;
}

/**
 * Why a retry that retryOn covers was not made: the route turns retries off (attempts: 0),
 * its attempts are used up (Envoy's retry_limit_exceeded), or the cluster refused one more
 * RPC retrying (Envoy's retry_overflow).
 */
export type RetryDenial = "retries-off" | "attempts-exhausted" | "budget-refused";

/** One cluster's admission: the circuit breaker, the retry limit, and the counts behind both. */
export class ClusterAdmission {
  private readonly counts: Counts = {
    active: 0,
    overflows: 0,
    activeRetries: 0,
    retry: { retries: 0, successes: 0, overflows: 0, limitExceeded: 0, transparent: 0 },
    pinMoves: { left: 0, excluded: 0, unreachable: 0 },
    replayBuffer: { bytes: 0, overLimit: 0, overBudget: 0 },
  };

  constructor(private readonly cluster: AdmissionSource) {}

  get stats(): ClusterStats {
    return this.counts;
  }

  /** The http2MaxRequests circuit breaker: an Admission, or null when the cluster is full (counted as an overflow). */
  admit(): Admission | null {
    const counts = this.counts;
    if (counts.active >= this.cluster.config.policy.connectionPool.http.http2MaxRequests) {
      counts.overflows++;
      return null;
    }
    counts.active++;
    return new Admission(counts, this, this.cluster);
  }

  /** Connection mode: a downstream connection's pin to this cluster moved (see PinMoveStats). */
  pinMoved(why: PinMove): void {
    this.counts.pinMoves[why]++;
  }

  /**
   * Why one more RPC may not start retrying, or undefined when it may: with a retryBudget
   * (which then replaces maxRetries, as in Envoy) at most percent% of the active and pending
   * requests, and at least minRetryConcurrency, may be retrying at once; else maxRetries.
   */
  retryRefusal(): string | undefined {
    const { config, pending } = this.cluster;
    const { activeRetries, active } = this.counts;
    const budget = config.policy.retryBudget;
    if (budget !== null) {
      const allowed = Math.max(budget.minRetryConcurrency, (budget.percent / 100) * (active + pending.count));
      if (activeRetries < allowed) return undefined;
      return `retryBudget (${budget.percent}% of active requests, at least ${budget.minRetryConcurrency}) exhausted for ${config.name}`;
    }
    const limit = config.policy.connectionPool.http.maxRetries;
    if (activeRetries < limit) return undefined;
    return `maxRetries limit (${limit}) reached for ${config.name}`;
  }
}

/**
 * The counts one admitted RPC holds. Every method may be called in any order and any number
 * of times: after end() nothing is taken again, and each count is released once.
 */
export class Admission {
  /** The endpoint whose activeRequests counts this RPC now (during an attempt), or null. */
  private onEndpoint: LbEndpoint | null = null;
  /** The current or last attempt's endpoint, and when that attempt started (only while observed). */
  private attemptEndpoint: LbEndpoint | null = null;
  private attemptStart = 0;
  private hasRetrySlot = false;
  /** A retry retryOn covered was denied: whatever ends the RPC then is no retry success. */
  private denied = false;
  private ended = false;
  /** Retries under the route's policy, and replays of requests never sent. */
  private retryCount = 0;
  private replayCount = 0;
  /** Request bytes kept for a replay (counted in the cluster's replayBuffer.bytes until let go of). */
  private keptBytes = 0;

  /** Made by ClusterAdmission.admit(), which has counted the RPC as active. */
  constructor(
    private readonly counts: Counts,
    private readonly cluster: ClusterAdmission,
    private readonly outcomes: AdmissionSource,
  ) {}

  get retries(): number {
    return this.retryCount;
  }

  get transparentRetries(): number {
    return this.replayCount;
  }

  /** Whether the RPC holds one of the cluster's activeRetries (from its first retry on). */
  get holdsRetrySlot(): boolean {
    return this.hasRetrySlot;
  }

  /** An attempt starts on `endpoint`: its activeRequests counts the RPC until leave() or end(). */
  enter(endpoint: LbEndpoint): void {
    if (this.ended) return;
    this.leave();
    endpoint.load.activeRequests++;
    this.onEndpoint = endpoint;
    this.attemptEndpoint = endpoint;
    if (this.outcomes.observed) this.attemptStart = this.outcomes.clock.now();
  }

  /**
   * Tells the cluster's outcome channel how the current (or last) attempt ended. `grpcStatus`
   * is the backend's for RESPONSE (-1 when it sent none), else -1.
   */
  attemptEnded(end: AttemptEnd, grpcStatus: number): void {
    const source = this.outcomes;
    const endpoint = this.attemptEndpoint;
    if (!source.observed || endpoint === null) return;
    source.attemptEnded({ endpoint, end, grpcStatus, durationMs: source.clock.now() - this.attemptStart });
  }

  /** The attempt is over: its endpoint no longer counts the RPC. */
  leave(): void {
    const endpoint = this.onEndpoint;
    if (endpoint === null) return;
    endpoint.load.activeRequests--;
    this.onEndpoint = null;
  }

  /** Why the RPC may not take a retry slot now (maxRetries / retryBudget); undefined when it may, or holds one already. */
  retryRefusal(): string | undefined {
    return this.hasRetrySlot || this.ended ? undefined : this.cluster.retryRefusal();
  }

  /** A retry starts: the RPC takes a retry slot (if it holds none yet), and the retry is counted. */
  retried(): void {
    if (this.ended) return;
    if (!this.hasRetrySlot) {
      this.hasRetrySlot = true;
      this.counts.activeRetries++;
    }
    this.retryCount++;
    this.counts.retry.retries++;
  }

  /** A retry retryOn covered was not made (counted as Envoy counts it). */
  retryDenied(why: RetryDenial): void {
    if (this.ended) return;
    this.denied = true;
    if (why === "attempts-exhausted") this.counts.retry.limitExceeded++;
    else if (why === "budget-refused") this.counts.retry.overflows++;
  }

  /** A request no backend saw is replayed at once (gRPC's transparent retry). */
  replayed(): void {
    if (this.ended) return;
    this.replayCount++;
    this.counts.retry.transparent++;
  }

  /**
   * The RPC keeps `bytes` more of its request for a replay, if that stays within its own
   * `limit` (retryBufferLimit) and within the cluster's `budget` (retryBufferBudget) over all
   * its RPCs. False when it may not: the RPC lets go of what it kept (it is not retried from
   * now on), counted by the limit it met.
   */
  keepForReplay(bytes: number, limit: number, budget: number): boolean {
    if (this.ended) return false;
    const buffer = this.counts.replayBuffer;
    const over = this.keptBytes + bytes > limit ? "overLimit" : buffer.bytes + bytes > budget ? "overBudget" : undefined;
    if (over !== undefined) {
      buffer[over]++;
      this.dropReplay();
      return false;
    }
    this.keptBytes += bytes;
    buffer.bytes += bytes;
    return true;
  }

  /** The request is no longer kept for a replay (the response began, or a limit was met): its bytes leave the budget. */
  dropReplay(): void {
    this.counts.replayBuffer.bytes -= this.keptBytes;
    this.keptBytes = 0;
  }

  /**
   * The RPC is over: every count it holds is released. `answered`: the backend's answer went
   * to the client (not a status of the proxy's own); after a retry that is a retry success,
   * unless a later retry was denied. Later calls do nothing.
   */
  end(answered: boolean): void {
    if (this.ended) return;
    this.ended = true;
    const counts = this.counts;
    counts.active--;
    if (this.hasRetrySlot) {
      counts.activeRetries--;
      if (answered && !this.denied) counts.retry.successes++;
    }
    this.leave();
    this.dropReplay();
  }
}
