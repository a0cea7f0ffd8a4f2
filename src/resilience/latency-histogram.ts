// Attempt latencies of one endpoint over one outlier-detection interval, in log-spaced
// buckets: fixed memory (1 KiB) whatever the traffic, O(1) to record on the data path,
// and a percentile accurate to one bucket (~9%), which is plenty to tell a 3x outlier.

/** Buckets per doubling of the latency: each bucket is 2^(1/8) ~ 1.09 times the previous. */
const PER_DOUBLING = 8;
/** From 1 µs up to 2^32 µs (71 min); longer attempts land in the last bucket. */
const BUCKETS = 32 * PER_DOUBLING;

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  /** Attempts recorded since the last reset. */
  count = 0;

  record(durationMs: number): void {
    const us = durationMs * 1000;
    const i = us <= 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log2(us) * PER_DOUBLING));
    this.counts[i]!++;
    this.count++;
  }

  /**
   * The q-quantile (0 < q <= 1) in ms, as the upper bound of the bucket holding it (so a
   * percentile is never under-reported); NaN when nothing was recorded.
   */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return 2 ** ((i + 1) / PER_DOUBLING) / 1000;
    }
    return 2 ** (BUCKETS / PER_DOUBLING) / 1000;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
  }
}
