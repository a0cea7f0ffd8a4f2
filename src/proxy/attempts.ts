// Where each attempt of one RPC goes, and whether another follows: the first pick, the
// endpoints tried, the retry policy's answer to a failed attempt (resilience/retry-policy.ts)
// with its stats counted on the RPC's Admission, and where the next attempt goes. The
// forwarder asks; it keeps the streams, the timers and the phase.
import type { Pin } from "../balancer/connection-pins.js";
import type { LbEndpoint, PickRequest } from "../balancer/types.js";
import type { RetryPolicy } from "../config/types.js";
import { tracer } from "../core/trace.js";
import { decideRetry, mayReplay, pickUntried, type Failure, type Retry } from "../resilience/retry-policy.js";
import type { Admission } from "../upstream/admission.js";
import type { ClusterRuntime } from "../upstream/cluster.js";
import { pickFailure, type LocalStatus } from "./local-status.js";

const trace = tracer("forward");

/** What the attempts use of their cluster: its balancer, its members, its random source. */
export type AttemptsCluster = Pick<ClusterRuntime, "name" | "random" | "pick" | "untried">;

/** The request as the balancer reads it, and whether it is still kept whole for a replay (the ClientSide). */
export interface AttemptsRequest extends PickRequest {
  readonly replayable: boolean;
}

/** An endpoint for the next attempt, or the status the RPC fails with when there is none. */
export type NextAttempt = LbEndpoint | LocalStatus;

export function isEndpoint(next: NextAttempt): next is LbEndpoint {
  return "key" in next;
}

export class Attempts {
  /** The current attempt's endpoint, or the last one's; undefined before the first pick. */
  endpoint: LbEndpoint | undefined;
  /** Endpoints of failed attempts (retries go elsewhere when they can). */
  private tried: LbEndpoint[] | undefined;
  /** Why a retry was refused (maxRetries, budget), told to the client with the failure. */
  private notRetried: string | undefined;

  constructor(
    private readonly cluster: AttemptsCluster,
    /** The request as the balancer reads it, and as kept for a replay. */
    private readonly client: AttemptsRequest,
    readonly admission: Admission,
    private readonly policy: RetryPolicy,
    /** Connection mode: the downstream connection's pin, kept on retries (it moves as the connection does). */
    private readonly pin: Pin | undefined,
  ) {}

  /** The first attempt's endpoint: the pinned one, else the balancer's choice, else why there is none. */
  first(): NextAttempt {
    return this.pin?.endpoint() ?? this.pick();
  }

  /** Records that an attempt goes to `endpoint` (its activeRequests count is held meanwhile). */
  enter(endpoint: LbEndpoint): void {
    this.endpoint = endpoint;
    this.admission.enter(endpoint);
  }

  /** Connection mode: attempts go to the downstream connection's endpoint while the balancer could pick it. */
  get isPinned(): boolean {
    return this.pin !== undefined;
  }

  /** Whether this attempt is a retry or a replay (the client's data then goes again). */
  get isRetry(): boolean {
    return this.admission.retries + this.admission.transparentRetries > 0;
  }

  /** A request no backend saw may be replayed at once (counted); false when it may not. `responded`: headers went to the client. */
  replay(responded: boolean, reason: string): boolean {
    const admission = this.admission;
    if (!mayReplay(this.client.replayable, responded, admission.transparentRetries)) return false;
    admission.replayed();
    trace("transparent retry", { cluster: this.cluster.name, endpoint: this.endpoint!.key, attempt: admission.transparentRetries, reason });
    return true;
  }

  /** The retry policy's answer to a failed attempt: the retry (counted), or undefined when the RPC fails. */
  retry(failure: Failure, responded: boolean, reason: string): Retry | undefined {
    const admission = this.admission;
    const decision = decideRetry(
      {
        failure,
        policy: this.policy,
        replayable: this.client.replayable,
        responded,
        retries: admission.retries,
        holdsRetrySlot: admission.holdsRetrySlot,
        budgetRefusal: admission.retryRefusal(),
        pinned: this.isPinned,
      },
      this.cluster.random,
    );
    if (decision.kind === "fail") {
      if (decision.reason !== "not-replayable" && decision.reason !== "not-covered") admission.retryDenied(decision.reason);
      if (decision.told !== undefined) this.notRetried = decision.told;
      return undefined;
    }
    admission.retried();
    trace("retry", { cluster: this.cluster.name, endpoint: this.endpoint!.key, retry: admission.retries, reason });
    (this.tried ??= []).push(this.endpoint!);
    return decision;
  }

  /**
   * The next attempt's endpoint: connection mode's pin (moved first when its endpoint left the
   * cluster, was excluded or cannot be reached meanwhile); otherwise the balancer picks again,
   * an endpoint not tried yet when `avoidTried`.
   */
  next(pinned: boolean, avoidTried: boolean): NextAttempt {
    const cluster = this.cluster;
    if (pinned) {
      const endpoint = this.pin?.endpoint();
      if (endpoint !== undefined) return endpoint;
    }
    if (!avoidTried) return this.pick();
    let refusal: LocalStatus | undefined;
    const pick = (): LbEndpoint | undefined => {
      const next = this.pick();
      if (isEndpoint(next)) return next;
      refusal = next;
      return undefined;
    };
    return pickUntried(pick, this.tried!, (tried) => cluster.untried(tried)) ?? refusal!;
  }

  /** A refused retry's reason joins the failure the client gets. */
  withRefusal(message: string): string {
    return this.notRetried === undefined ? message : `${message}; ${this.notRetried}`;
  }

  private pick(): NextAttempt {
    const pick = this.cluster.pick(this.client);
    return pick.kind === "endpoint" ? pick.endpoint : pickFailure(pick);
  }
}
