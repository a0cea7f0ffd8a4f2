// A token bucket: `burst` tokens, refilled at `perSecond`. The HTTP/2 transport gives each
// connection one per kind of frame that costs work but carries no request (SETTINGS, say):
// a well-behaved peer stays far inside it, a flood empties it whether or not the flooder
// reads our ACKs. The proxy keeps one for the whole process (streams its clients open and
// cancel at once). Time is the caller's (ms), so a test can drive it.
export class TokenBucket {
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

  /** Spends one token; false when there is none left. */
  take(now: number): boolean {
    const refill = ((now - this.last) * this.perSecond) / 1000;
    this.last = now;
    this.tokens = Math.min(this.burst, this.tokens + refill);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
