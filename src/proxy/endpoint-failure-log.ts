// Why an endpoint cannot be reached, logged once: a backend whose certificate does not match,
// say, fails every connect attempt (each backoff round) and every RPC that needs it, and the
// log would repeat the same line without end. One warning per endpoint and reason; the
// endpoint's next READY forgets it, so a new failure later is told again.
import { logger } from "../core/trace.js";
import { PoolState } from "../upstream/endpoint-pool.js";

export class EndpointFailureLog {
  /** The reason last logged, by cluster and endpoint. */
  private readonly logged = new Map<string, string>();

  constructor(private readonly warn: (fields: Record<string, unknown>, message: string) => void = (f, m) => logger.warn(f, m)) {}

  /** An endpoint's state changed to `state` because `why` (the pool's words: "connect failed: REASON"). */
  stateChanged(cluster: string, endpoint: string, state: PoolState, why: string): void {
    const key = `${cluster} ${endpoint}`;
    if (state === PoolState.READY) {
      this.logged.delete(key);
      return;
    }
    if (state !== PoolState.TRANSIENT_FAILURE || this.logged.get(key) === why) return;
    this.logged.set(key, why);
    this.warn({ cluster, endpoint, state, reason: why }, `endpoint ${endpoint} of ${cluster} unreachable: ${why}`);
  }

  /** A cluster left: its endpoints' entries go. */
  forget(cluster: string): void {
    for (const key of [...this.logged.keys()]) if (key.startsWith(`${cluster} `)) this.logged.delete(key);
  }
}
