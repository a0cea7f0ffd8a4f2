// Envoy's router retry rules, as Istio programs them, as pure functions: whether a failed
// attempt is retried, after how long and where, and which endpoint a retry goes to. The
// forwarder gathers the facts (what failed, what was sent, what the cluster allows) and acts
// on the decision; the counting is the cluster's Admission's.
import type { LbEndpoint } from "../balancer/types.js";
import type { RetryCondition, RetryPolicy } from "../config/types.js";
import type { Random } from "../core/random.js";
import { Status } from "../core/status.js";
import type { RetryDenial } from "../upstream/admission.js";

/**
 * A request the proxy never sent (the connection it was given could take no stream, or its
 * endpoint left the cluster while it waited) is replayed at once, like gRPC's transparent
 * retry, whatever the route's retry policy: up to this many times.
 */
export const MAX_TRANSPARENT_RETRIES = 3;

/** Envoy's host_selection_retry_max_attempts as Istio sets it: picks tried to find an endpoint not tried yet. */
export const HOST_SELECTION_ATTEMPTS = 5;

/** Why an attempt failed, in the terms of retryOn. */
export type Failure =
  | { readonly kind: "connect-failure" | "refused-stream" | "reset" | "timeout" }
  /** A response the backend completed in its headers (trailers-only), or a non-200 :status. */
  | { readonly kind: "response"; readonly grpcStatus: number; readonly httpStatus: number };

// The failures without data, made once.
export const CONNECT_FAILURE: Failure = { kind: "connect-failure" };
export const REFUSED_STREAM: Failure = { kind: "refused-stream" };
export const RESET: Failure = { kind: "reset" };
/** The attempt's perTryTimeout passed. */
export const TIMEOUT: Failure = { kind: "timeout" };

/** gRPC status -> its retryOn name. */
const GRPC_RETRY_NAMES: ReadonlyMap<number, RetryCondition> = new Map([
  [Status.CANCELLED, "cancelled"],
  [Status.DEADLINE_EXCEEDED, "deadline-exceeded"],
  [Status.INTERNAL, "internal"],
  [Status.RESOURCE_EXHAUSTED, "resource-exhausted"],
  [Status.UNAVAILABLE, "unavailable"],
]);

/** Whether the policy's retryOn covers this failure (Envoy's router retry state). */
export function retryCovers(policy: RetryPolicy, f: Failure): boolean {
  const on = policy.retryOn;
  // Envoy: 5xx and gateway-error also cover every failure without a response at all.
  const noResponse = on.has("5xx") || on.has("gateway-error");
  switch (f.kind) {
    case "connect-failure":
      // Envoy: a failed connect is also a reset (and one before the request was sent).
      return noResponse || on.has("connect-failure") || on.has("reset") || on.has("reset-before-request");
    case "refused-stream":
      return noResponse || on.has("refused-stream") || on.has("reset");
    case "reset":
    case "timeout":
      return noResponse || on.has("reset");
    case "response": {
      const name = GRPC_RETRY_NAMES.get(f.grpcStatus);
      if (name !== undefined && on.has(name)) return true;
      const h = f.httpStatus;
      if (on.has("5xx") && h >= 500 && h <= 599) return true;
      if (on.has("gateway-error") && h >= 502 && h <= 504) return true;
      return on.has("retriable-status-codes") && policy.retriableStatusCodes.has(h);
    }
  }
}

/** The facts a retry decision rests on, gathered by the forwarder when an attempt fails. */
export interface RetryFacts {
  readonly failure: Failure;
  readonly policy: RetryPolicy;
  /** The whole request so far is in the retry buffer, and no response has been passed on. */
  readonly replayable: boolean;
  /** Response headers went to the client (the backend's or the proxy's own). */
  readonly responded: boolean;
  /** Retries made so far under the policy (transparent replays not counted). */
  readonly retries: number;
  /** The RPC holds a retry slot already (from its first retry): the cluster's limit is not asked again. */
  readonly holdsRetrySlot: boolean;
  /** Why the cluster refuses one more RPC retrying (maxRetries / retryBudget), or undefined; computed by the caller. */
  readonly budgetRefusal: string | undefined;
  /** Connection mode: the RPC stays on its connection's endpoint. */
  readonly pinned: boolean;
}

export type RetryDecision =
  | {
      readonly kind: "retry";
      /** Envoy's fully jittered backoff before the retry. */
      readonly delayMs: number;
      /** Stay on the pinned endpoint while it is still in the cluster (connection mode). */
      readonly pinned: boolean;
      /** When picking (not pinned, or the pinned endpoint left): prefer an endpoint not tried yet (previous_hosts). */
      readonly avoidTried: boolean;
    }
  | {
      readonly kind: "fail";
      /**
       * not-replayable: a response reached the client or the request outgrew the buffer;
       * not-covered: retryOn does not name this failure; else why a covered retry was denied.
       */
      readonly reason: "not-replayable" | "not-covered" | RetryDenial;
      /** What the client's failure message adds (the limit that refused the retry), or undefined. */
      readonly told: string | undefined;
    };

export type Retry = Extract<RetryDecision, { kind: "retry" }>;

// The refusals without a message are constants: a failure path allocates no decision for them.
const NOT_REPLAYABLE: RetryDecision = { kind: "fail", reason: "not-replayable", told: undefined };
const NOT_COVERED: RetryDecision = { kind: "fail", reason: "not-covered", told: undefined };
const RETRIES_OFF: RetryDecision = { kind: "fail", reason: "retries-off", told: undefined };
const ATTEMPTS_EXHAUSTED: RetryDecision = { kind: "fail", reason: "attempts-exhausted", told: undefined };

/**
 * Envoy's retry decision for a failed attempt: retried when nothing reached the client and
 * the request is still buffered, retryOn covers the failure, attempts are left, and the
 * cluster allows one more RPC retrying (asked once, at the first retry). `random` draws the
 * backoff's jitter, and only when the answer is a retry.
 */
export function decideRetry(facts: RetryFacts, random: Random): RetryDecision {
  const policy = facts.policy;
  if (!facts.replayable || facts.responded) return NOT_REPLAYABLE;
  if (!retryCovers(policy, facts.failure)) return NOT_COVERED;
  if (facts.retries >= policy.attempts) return policy.attempts === 0 ? RETRIES_OFF : ATTEMPTS_EXHAUSTED;
  if (!facts.holdsRetrySlot && facts.budgetRefusal !== undefined) {
    return { kind: "fail", reason: "budget-refused", told: `not retried: ${facts.budgetRefusal}` };
  }
  return {
    kind: "retry",
    delayMs: retryBackoffMs(policy.backoffBaseMs, facts.retries + 1, random),
    pinned: facts.pinned,
    avoidTried: policy.ignorePreviousHosts,
  };
}

/** Envoy's fully jittered exponential backoff before retry `n` (1 = the first): uniform in [0, base x 2^(n-1)), at most 10 x base. */
export function retryBackoffMs(baseMs: number, n: number, random: Random): number {
  return random() * Math.min(baseMs * 2 ** (n - 1), baseMs * 10);
}

/** Whether a request no backend saw may be replayed at once (gRPC's transparent retry), whatever the route's policy. */
export function mayReplay(replayable: boolean, responded: boolean, replays: number): boolean {
  return replayable && !responded && replays < MAX_TRANSPARENT_RETRIES;
}

/**
 * The endpoint for a retry that avoids the endpoints tried already (Envoy's previous_hosts):
 * the balancer's pick when one of HOST_SELECTION_ATTEMPTS picks is untried; past those,
 * unlike Envoy, which then takes the last pick (a hash policy always repeats itself), the
 * least loaded untried endpoint, if any is left. `pick` returns undefined when the balancer
 * has nothing to offer (and the caller has dealt with it); so does this then.
 */
export function pickUntried(
  pick: () => LbEndpoint | undefined,
  tried: readonly LbEndpoint[],
  leastLoadedUntried: (tried: readonly LbEndpoint[]) => LbEndpoint | undefined,
): LbEndpoint | undefined {
  for (let i = 1; ; i++) {
    const next = pick();
    if (next === undefined) return undefined;
    if (!tried.some((e) => e.key === next.key)) return next;
    if (i === HOST_SELECTION_ATTEMPTS) return leastLoadedUntried(tried) ?? next;
  }
}
