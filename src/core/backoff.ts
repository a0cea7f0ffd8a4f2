// Reconnect backoff as gRPC specifies it (doc/connection-backoff.md): the first retry after
// 1 s, each next one 1.6 times later, up to 120 s, every delay jittered by +-20%; a connect
// attempt gets at least the minimum connect timeout, or longer while the backoff is longer.
// Reset once a connection is established (the peer's SETTINGS arrived).
import type { Random } from "./random.js";

export const BACKOFF = {
  INITIAL_MS: 1000,
  MULTIPLIER: 1.6,
  JITTER: 0.2,
  MAX_MS: 120_000,
} as const;

export class Backoff {
  /** The un-jittered backoff, growing with each failure. */
  private current: number = BACKOFF.INITIAL_MS;
  /** The jittered delay that sets the next attempt's deadline when it starts. */
  private nextDelay: number = BACKOFF.INITIAL_MS;
  /** The deadline of the attempt in progress, or of the last one; 0 before any. */
  private deadline = 0;

  constructor(private readonly random: Random) {}

  /**
   * A connect attempt starts at `now`: its deadline is one (jittered) backoff away, and its
   * timeout max(that, the minimum connect timeout).
   */
  attempt(now: number, minConnectTimeoutMs: number): number {
    if (this.deadline <= now) this.deadline = now + this.nextDelay;
    return Math.max(this.deadline - now, minConnectTimeoutMs);
  }

  /**
   * The attempt failed at `now`: how long to wait before the next one (until its deadline).
   * The backoff grows by the multiplier for the attempt after.
   */
  failed(now: number): number {
    const wait = Math.max(0, this.deadline - now);
    this.current = Math.min(this.current * BACKOFF.MULTIPLIER, BACKOFF.MAX_MS);
    this.nextDelay = this.current + (this.random() * 2 - 1) * BACKOFF.JITTER * this.current;
    return wait;
  }

  /** A connection was established: the next failure starts from the initial backoff. */
  reset(): void {
    this.current = BACKOFF.INITIAL_MS;
    this.nextDelay = BACKOFF.INITIAL_MS;
    this.deadline = 0;
  }
}
