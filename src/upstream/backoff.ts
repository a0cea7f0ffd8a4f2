// Reconnect backoff as gRPC specifies it (doc/connection-backoff.md): the first retry after
// 1 s, each next one 1.6 times later, up to 120 s, every delay jittered by +-20%; a connect
// attempt gets at least the minimum connect timeout, or longer while the backoff is longer.
// Reset once a connection is established (the peer's SETTINGS arrived).
import type { Random } from "../core/random.js";

export const BACKOFF = {
  INITIAL_MS: 1000,
  MULTIPLIER: 1.6,
  JITTER: 0.2,
  MAX_MS: 120_000,
} as const;

export class Backoff {
  /** The un-jittered delay the next failure will wait. */
  private current: number = BACKOFF.INITIAL_MS;
  /** When the attempt in progress may be retried at the earliest (its deadline). */
  private deadline = 0;

  constructor(private readonly random: Random) {}

  /**
   * A connect attempt starts at `now`: its timeout, max(the backoff deadline, the minimum
   * connect timeout). The first attempt's deadline is now + INITIAL_MS.
   */
  attempt(now: number, minConnectTimeoutMs: number): number {
    if (this.deadline === 0) this.deadline = now + BACKOFF.INITIAL_MS;
    return Math.max(this.deadline - now, minConnectTimeoutMs);
  }

  /** The attempt failed at `now`: how long to wait before the next one. */
  failed(now: number): number {
    const wait = Math.max(0, this.deadline - now);
    this.current = Math.min(this.current * BACKOFF.MULTIPLIER, BACKOFF.MAX_MS);
    const jitter = (this.random() * 2 - 1) * BACKOFF.JITTER * this.current;
    // The next attempt starts when this wait ends; its deadline is one backoff after that.
    this.deadline = now + wait + this.current + jitter;
    return wait;
  }

  /** A connection was established: the next failure starts from the initial backoff. */
  reset(): void {
    this.current = BACKOFF.INITIAL_MS;
    this.deadline = 0;
  }
}
