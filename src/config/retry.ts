// VirtualService http[].retries (istio HTTPRetry) and DestinationRule trafficPolicy.retryBudget,
// fully defaulted the way Istio programs Envoy.
import { closest, describe } from "./diagnostics.js";
import { INT32_MAX } from "./limits.js";
import type { MapReader } from "./reader.js";
import type { RetryBudget, RetryCondition, RetryPolicy } from "./types.js";

/** The conditions sluice acts on: Envoy's retry_on names (and x-envoy-retry-grpc-on's). */
export const RETRY_CONDITIONS: readonly RetryCondition[] = [
  "cancelled",
  "deadline-exceeded",
  "internal",
  "resource-exhausted",
  "unavailable",
  "connect-failure",
  "refused-stream",
  "reset",
  "reset-before-request",
  "5xx",
  "gateway-error",
  "retriable-status-codes",
];

/** Envoy names sluice accepts but that never match a gRPC exchange over HTTP/2 (said with a warning). */
const INAPPLICABLE = new Map<string, string>([
  ["retriable-4xx", "a gRPC backend answers 200 and puts its error in grpc-status"],
  ["retriable-headers", "sluice has no retriable_headers setting"],
  ["envoy-ratelimited", "sluice adds no rate limiting"],
  ["http3-post-connect-failure", "sluice speaks HTTP/2 to backends"],
]);

/**
 * Istio's retry policy for routes that set no `retries` (and for ServiceEntry hosts without
 * a VirtualService): 2 retries on connect-failure, refused-stream, unavailable, cancelled,
 * and a 503 :status (retriable-status-codes), other hosts preferred. A policy that sets no
 * retryOn keeps these conditions and the 503.
 */
export const ISTIO_DEFAULT_RETRY: RetryPolicy = {
  attempts: 2,
  perTryTimeoutMs: null,
  retryOn: new Set<RetryCondition>(["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"]),
  retriableStatusCodes: new Set<number>([503]),
  ignorePreviousHosts: true,
  backoffBaseMs: 25,
};

/** Default bytes of request kept for a retry (the Proxy resource's retryBufferLimit). */
export const DEFAULT_RETRY_BUFFER_LIMIT = 64 * 1024;

/**
 * Default bytes of request kept for retries per cluster (the Proxy resource's
 * retryBufferBudget): 16 MiB, the channel-wide retry buffer of grpc-java and grpc-js
 * (retryBufferSize), a cluster being to the proxy what a channel is to a gRPC client. With
 * the 64 KiB per-RPC limit it keeps 256 large requests at once, and tens of thousands of
 * typical small ones; beyond that a burst of large requests is forwarded unbuffered (not
 * retried) rather than held in memory.
 */
export const DEFAULT_RETRY_BUFFER_BUDGET = 16 * 1024 * 1024;

/** Envoy's retry budget defaults (20% of active requests, at least 3 concurrent retries). */
export const DEFAULT_RETRY_BUDGET: RetryBudget = { percent: 20, minRetryConcurrency: 3 };

/** `retries` of one http route; undefined when not written (the route gets Istio's default). */
export function parseRetries(r: MapReader | undefined): RetryPolicy | undefined {
  if (r === undefined) return undefined;
  const attempts = r.int("attempts", { min: 0, max: INT32_MAX });
  const perTryTimeoutMs = r.duration("perTryTimeout");
  const retryOnText = r.string("retryOn");
  r.bool("retryRemoteLocalities");
  const ignorePreviousHosts = r.bool("retryIgnorePreviousHosts");
  const backoffMs = r.duration("backoff");
  r.finish();
  // Istio: attempts 0 turns retries off; retryOn unset keeps the default conditions.
  let retryOn = ISTIO_DEFAULT_RETRY.retryOn;
  let codes: ReadonlySet<number> = ISTIO_DEFAULT_RETRY.retriableStatusCodes;
  if (retryOnText !== undefined) {
    const parsed = parseRetryOn(r, retryOnText);
    retryOn = parsed.conditions;
    codes = parsed.codes;
  }
  return {
    attempts: attempts ?? ISTIO_DEFAULT_RETRY.attempts,
    perTryTimeoutMs: perTryTimeoutMs === undefined || perTryTimeoutMs === 0 ? null : perTryTimeoutMs,
    retryOn,
    retriableStatusCodes: codes,
    ignorePreviousHosts: ignorePreviousHosts ?? true,
    backoffBaseMs: backoffMs === undefined || backoffMs === 0 ? ISTIO_DEFAULT_RETRY.backoffBaseMs : backoffMs,
  };
}

/** Istio's retryOn: comma-separated Envoy conditions, gRPC status names and HTTP status codes. */
function parseRetryOn(r: MapReader, text: string): { conditions: ReadonlySet<RetryCondition>; codes: ReadonlySet<number> } {
  const conditions = new Set<RetryCondition>();
  const codes = new Set<number>();
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    if (/^\d+$/.test(item)) {
      const code = Number(item);
      if (code < 100 || code > 599) {
        r.error("retryOn", `${item} is not an HTTP status code (100 to 599)`);
        continue;
      }
      // Istio turns each code into retriable_status_codes and adds retriable-status-codes.
      codes.add(code);
      conditions.add("retriable-status-codes");
      continue;
    }
    if ((RETRY_CONDITIONS as readonly string[]).includes(item)) {
      conditions.add(item as RetryCondition);
      continue;
    }
    const inapplicable = INAPPLICABLE.get(item);
    if (inapplicable !== undefined) {
      r.warn("retryOn", `${item} never applies to gRPC through sluice (${inapplicable})`);
      continue;
    }
    const near = closest(item, RETRY_CONDITIONS);
    r.error(
      "retryOn",
      `unknown retry condition ${describe(item)}${near === null ? "" : ` (did you mean ${near}?)`}; known: ${RETRY_CONDITIONS.join(", ")}, or an HTTP status code`,
    );
  }
  return { conditions, codes };
}

/** DestinationRule trafficPolicy.retryBudget; replaces connectionPool.http.maxRetries when set (Envoy). */
export function parseRetryBudget(r: MapReader | undefined): RetryBudget | undefined {
  if (r === undefined) return undefined;
  const percent = r.percent("percent");
  const minRetryConcurrency = r.int("minRetryConcurrency", { min: 0, max: INT32_MAX });
  r.duration("budgetInterval");
  r.finish();
  return {
    percent: percent ?? DEFAULT_RETRY_BUDGET.percent,
    minRetryConcurrency: minRetryConcurrency ?? DEFAULT_RETRY_BUDGET.minRetryConcurrency,
  };
}
