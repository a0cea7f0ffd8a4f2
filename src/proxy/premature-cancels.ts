// Rapid reset across connections (CVE-2023-44487). A stream a client opens and cancels at
// once costs a backend a stream and the client almost nothing. Each client connection has
// its own allowance of such resets (the transport's); a client that reconnects before
// spending it, or spreads its resets over many connections, goes around that. So the whole
// process also keeps a budget of upstream streams its clients cancel within a second of
// opening them (Envoy's premature reset: one second of lifetime), refilled per second.
// A connection whose cancel finds the budget spent is closed with GOAWAY ENHANCE_YOUR_CALM:
// under a flood the flooder's connections are the ones cancelling, and each closed one costs
// it a new connection (within downstream.maxConnections). A client whose deadline passes
// after a second, or who cancels a long stream, spends nothing.
import type { Clock } from "../core/clock.js";
import { TokenBucket } from "../core/token-bucket.js";

/** A stream cancelled sooner than this after it began is a premature cancel (Envoy's premature_reset_min_stream_lifetime). */
export const PREMATURE_CANCEL_MS = 1000;

export class PrematureCancels {
  private readonly bucket: TokenBucket;
  /** Client connections closed for overdrawing the budget (since start). */
  connectionsClosed = 0;
  /** The connections closed: the resets of their other streams, which the close causes, are neither charged nor counted again. */
  private readonly closed = new WeakSet<object>();

  constructor(
    /** Premature cancels the process allows per second, and at once. */
    readonly perSecond: number,
    private readonly clock: Clock,
  ) {
    this.bucket = new TokenBucket(perSecond, perSecond, clock.now());
  }

  /**
   * A client cancelled a stream the proxy had opened upstream on `connection`, `ageMs` after
   * the RPC began: true when that is within the budget (or not premature, or the connection
   * is already being closed), false when the connection should be closed (counted once).
   */
  allow(ageMs: number, connection: object): boolean {
    if (this.closed.has(connection) || ageMs >= PREMATURE_CANCEL_MS || this.bucket.take(this.clock.now())) return true;
    this.closed.add(connection);
    this.connectionsClosed++;
    return false;
  }
}
