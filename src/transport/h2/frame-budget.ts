// A per-connection allowance for a kind of frame that costs us work but carries no request
// (SETTINGS, say): a token bucket of `burst` frames, refilled at `perSecond`. A well-behaved
// peer stays far inside it; a flood empties it whether or not the flooder reads our ACKs,
// and the connection then ends with ENHANCE_YOUR_CALM. Time is the caller's (ms).
export class FrameBudget {
  private tokens: number;
  private last: number;

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Spends one frame's allowance; false when there is none left. */
  take(now: number): boolean {
    const refill = ((now - this.last) * this.perSecond) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + refill);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
