// The retry rules docs/resilience.md's "Retries" section states, one table row per rule: which
// failures retryOn covers, what stops a retry (a response on its way, the buffer, the
// attempts, the cluster's limit), the backoff's bounds, where a retry goes, and the
// transparent replay of requests never sent.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { LbEndpoint } from "../../src/balancer/types.js";
import { ISTIO_DEFAULT_RETRY } from "../../src/config/retry.js";
import type { RetryBudget, RetryCondition, RetryPolicy } from "../../src/config/types.js";
import { Status } from "../../src/core/status.js";
import {
  decideRetry,
  HOST_SELECTION_ATTEMPTS,
  MAX_TRANSPARENT_RETRIES,
  mayReplay,
  pickUntried,
  retryBackoffMs,
  type Failure,
  type RetryDecision,
  type RetryFacts,
} from "../../src/resilience/retry-policy.js";
import { ClusterAdmission, type Admission } from "../../src/upstream/admission.js";
import { admissionSource } from "../support/admission.js";

/** A policy as a route's retries write it: retryOn names and HTTP codes, comma-separated. */
function retryOn(text: string, more: Partial<RetryPolicy> = {}): RetryPolicy {
  const conditions = new Set<RetryCondition>();
  const codes = new Set<number>();
  for (const item of text.split(",")) {
    if (/^\d+$/.test(item)) {
      codes.add(Number(item));
      conditions.add("retriable-status-codes");
    } else conditions.add(item as RetryCondition);
  }
  return { ...ISTIO_DEFAULT_RETRY, retryOn: conditions, retriableStatusCodes: codes, ...more };
}

const CONNECT: Failure = { kind: "connect-failure" };
const REFUSED: Failure = { kind: "refused-stream" };
const RESET: Failure = { kind: "reset" };
const PER_TRY_TIMEOUT: Failure = { kind: "timeout" };
/** A trailers-only answer with this grpc-status. */
const grpcStatus = (status: number): Failure => ({ kind: "response", grpcStatus: status, httpStatus: 200 });
/** A non-200 :status (not a gRPC answer). */
const httpStatus = (status: number): Failure => ({ kind: "response", grpcStatus: -1, httpStatus: status });

type Outcome = "retry" | Extract<RetryDecision, { kind: "fail" }>["reason"];

interface Row {
  readonly rule: string;
  readonly policy: RetryPolicy;
  readonly failure: Failure;
  readonly facts?: Partial<Omit<RetryFacts, "failure" | "policy">>;
  readonly expect: Outcome;
}

/** A first attempt failed; nothing reached the client; the cluster allows a retry. */
const FIRST_FAILURE: Omit<RetryFacts, "failure" | "policy"> = {
  replayable: true,
  responded: false,
  retries: 0,
  holdsRetrySlot: false,
  budgetRefusal: undefined,
  pinned: false,
};

function outcome(d: RetryDecision): Outcome {
  return d.kind === "retry" ? "retry" : d.reason;
}

const NO_RESPONSE: readonly [string, Failure][] = [
  ["a failed connect", CONNECT],
  ["a refused stream", REFUSED],
  ["a reset before the response", RESET],
  ["a perTryTimeout", PER_TRY_TIMEOUT],
];

const GRPC_NAMES: readonly [RetryCondition, number][] = [
  ["cancelled", Status.CANCELLED],
  ["deadline-exceeded", Status.DEADLINE_EXCEEDED],
  ["internal", Status.INTERNAL],
  ["resource-exhausted", Status.RESOURCE_EXHAUSTED],
  ["unavailable", Status.UNAVAILABLE],
];

const ROWS: readonly Row[] = [
  // Istio's default policy, for routes that set no retries.
  ...(
    [
      [CONNECT, "retry", "a failed connect"],
      [REFUSED, "retry", "a refused stream"],
      [grpcStatus(Status.UNAVAILABLE), "retry", "a trailers-only UNAVAILABLE"],
      [grpcStatus(Status.CANCELLED), "retry", "a trailers-only CANCELLED"],
      [httpStatus(503), "retry", "a 503 :status"],
      [RESET, "not-covered", "a reset"],
      [PER_TRY_TIMEOUT, "not-covered", "a perTryTimeout"],
      [grpcStatus(Status.INTERNAL), "not-covered", "a trailers-only INTERNAL"],
      [httpStatus(502), "not-covered", "a 502 :status"],
    ] as const
  ).map(([failure, expect, what]): Row => ({
    rule: `Istio's default policy: ${expect === "retry" ? "retries" : "does not retry"} ${what}`,
    policy: ISTIO_DEFAULT_RETRY,
    failure,
    expect,
  })),

  // gRPC names match the grpc-status of a trailers-only answer, and only that.
  ...GRPC_NAMES.map(([name, status]): Row => ({
    rule: `retryOn ${name}: retries a trailers-only grpc-status ${status}`,
    policy: retryOn(name),
    failure: grpcStatus(status),
    expect: "retry",
  })),
  ...GRPC_NAMES.map(([name]): Row => ({
    rule: `retryOn ${name}: not a trailers-only NOT_FOUND`,
    policy: retryOn(name),
    failure: grpcStatus(Status.NOT_FOUND),
    expect: "not-covered",
  })),
  { rule: "retryOn unavailable: not a trailers-only CANCELLED", policy: retryOn("unavailable"), failure: grpcStatus(Status.CANCELLED), expect: "not-covered" },
  { rule: "retryOn unavailable: not a 503 :status (no grpc-status)", policy: retryOn("unavailable"), failure: httpStatus(503), expect: "not-covered" },
  { rule: "retryOn unavailable: not a failed connect", policy: retryOn("unavailable"), failure: CONNECT, expect: "not-covered" },

  // connect-failure, and the resets that also cover a failed connect.
  ...(["connect-failure", "reset", "reset-before-request"] as const).map((name): Row => ({
    rule: `retryOn ${name}: retries a failed connect`,
    policy: retryOn(name),
    failure: CONNECT,
    expect: "retry",
  })),
  { rule: "retryOn connect-failure: not a refused stream", policy: retryOn("connect-failure"), failure: REFUSED, expect: "not-covered" },
  { rule: "retryOn connect-failure: not a reset", policy: retryOn("connect-failure"), failure: RESET, expect: "not-covered" },
  {
    rule: "retryOn reset-before-request: not a reset after the request was sent",
    policy: retryOn("reset-before-request"),
    failure: RESET,
    expect: "not-covered",
  },

  // refused-stream.
  { rule: "retryOn refused-stream: retries a refused stream", policy: retryOn("refused-stream"), failure: REFUSED, expect: "retry" },
  { rule: "retryOn reset: retries a refused stream", policy: retryOn("reset"), failure: REFUSED, expect: "retry" },
  { rule: "retryOn refused-stream: not a reset", policy: retryOn("refused-stream"), failure: RESET, expect: "not-covered" },
  { rule: "retryOn refused-stream: not a failed connect", policy: retryOn("refused-stream"), failure: CONNECT, expect: "not-covered" },

  // reset: a reset or lost connection before the response, or a perTryTimeout.
  { rule: "retryOn reset: retries a reset (or lost connection) before the response", policy: retryOn("reset"), failure: RESET, expect: "retry" },
  { rule: "retryOn reset: retries an attempt past its perTryTimeout", policy: retryOn("reset"), failure: PER_TRY_TIMEOUT, expect: "retry" },
  { rule: "retryOn reset: not a trailers-only UNAVAILABLE", policy: retryOn("reset"), failure: grpcStatus(Status.UNAVAILABLE), expect: "not-covered" },
  {
    rule: "perTryTimeout: a timed-out attempt is not retried under unavailable",
    policy: retryOn("unavailable"),
    failure: PER_TRY_TIMEOUT,
    expect: "not-covered",
  },

  // 5xx and gateway-error: every failure without a response, plus a non-200 :status.
  ...(["5xx", "gateway-error"] as const).flatMap((name) =>
    NO_RESPONSE.map(([what, failure]): Row => ({
      rule: `retryOn ${name}: retries ${what} (no response at all)`,
      policy: retryOn(name),
      failure,
      expect: "retry",
    })),
  ),
  ...[500, 503, 599].map((code): Row => ({
    rule: `retryOn 5xx: retries a ${code} :status`,
    policy: retryOn("5xx"),
    failure: httpStatus(code),
    expect: "retry",
  })),
  ...[404, 429].map((code): Row => ({ rule: `retryOn 5xx: not a ${code} :status`, policy: retryOn("5xx"), failure: httpStatus(code), expect: "not-covered" })),
  ...[502, 503, 504].map((code): Row => ({
    rule: `retryOn gateway-error: retries a ${code} :status`,
    policy: retryOn("gateway-error"),
    failure: httpStatus(code),
    expect: "retry",
  })),
  ...[500, 501].map((code): Row => ({
    rule: `retryOn gateway-error: not a ${code} :status`,
    policy: retryOn("gateway-error"),
    failure: httpStatus(code),
    expect: "not-covered",
  })),
  {
    rule: "retryOn 5xx: not a trailers-only grpc-status (a gRPC answer has :status 200)",
    policy: retryOn("5xx"),
    failure: grpcStatus(Status.INTERNAL),
    expect: "not-covered",
  },

  // HTTP codes: retriable-status-codes.
  { rule: 'retryOn "503": retries a response with that :status', policy: retryOn("503"), failure: httpStatus(503), expect: "retry" },
  { rule: 'retryOn "503": not another :status', policy: retryOn("503"), failure: httpStatus(502), expect: "not-covered" },
  { rule: 'retryOn "503": not a failed connect', policy: retryOn("503"), failure: CONNECT, expect: "not-covered" },

  // What stops a retry that retryOn covers.
  {
    rule: "nothing has reached the client: once response headers are passed on, no retry",
    policy: retryOn("reset"),
    failure: RESET,
    facts: { responded: true },
    expect: "not-replayable",
  },
  {
    rule: "the whole request must be in the retry buffer: a larger request is not retried",
    policy: retryOn("reset"),
    failure: RESET,
    facts: { replayable: false },
    expect: "not-replayable",
  },
  { rule: "attempts: retries are left after 1 of 2", policy: retryOn("reset", { attempts: 2 }), failure: RESET, facts: { retries: 1 }, expect: "retry" },
  {
    rule: "attempts: no retry past the route's attempts (limitExceeded)",
    policy: retryOn("reset", { attempts: 2 }),
    failure: RESET,
    facts: { retries: 2 },
    expect: "attempts-exhausted",
  },
  { rule: "attempts: 0 turns retries off", policy: retryOn("reset", { attempts: 0 }), failure: RESET, expect: "retries-off" },
  {
    rule: "attempts: 0 turns retries off, connect failures included",
    policy: retryOn("connect-failure", { attempts: 0 }),
    failure: CONNECT,
    expect: "retries-off",
  },
  {
    rule: "the cluster's limit: a refused retry is not made",
    policy: retryOn("reset"),
    failure: RESET,
    facts: { budgetRefusal: "maxRetries limit (1) reached for c" },
    expect: "budget-refused",
  },
  {
    rule: "the cluster's limit is asked once: an RPC that holds a retry slot keeps retrying",
    policy: retryOn("reset"),
    failure: RESET,
    facts: { retries: 1, holdsRetrySlot: true, budgetRefusal: "maxRetries limit (1) reached for c" },
    expect: "retry",
  },
  {
    rule: "a failure retryOn does not cover is not counted against the cluster's limit",
    policy: retryOn("reset"),
    failure: grpcStatus(Status.UNAVAILABLE),
    facts: { budgetRefusal: "maxRetries limit (1) reached for c" },
    expect: "not-covered",
  },
];

describe("retryOn and what stops a retry", () => {
  for (const row of ROWS) {
    test(row.rule, () => {
      const d = decideRetry({ ...FIRST_FAILURE, ...row.facts, failure: row.failure, policy: row.policy }, () => 0.5);
      assert.equal(outcome(d), row.expect);
    });
  }
});

describe("the cluster's retry limit, as the forwarder asks it (upstream's admission)", () => {
  const cluster = (http: { maxRetries?: number }, retryBudget: RetryBudget | null) => new ClusterAdmission(admissionSource(http, retryBudget, "c"));
  const rows: readonly { rule: string; cluster: ClusterAdmission; active: number; retrying: number; expect: Outcome; told?: string }[] = [
    { rule: "maxRetries: one more RPC may retry under the limit", cluster: cluster({ maxRetries: 2 }, null), active: 10, retrying: 1, expect: "retry" },
    {
      rule: "maxRetries: at the limit the retry is refused, and the client is told the limit",
      cluster: cluster({ maxRetries: 2 }, null),
      active: 10,
      retrying: 2,
      expect: "budget-refused",
      told: "not retried: maxRetries limit (2) reached for c",
    },
    {
      rule: "retryBudget replaces maxRetries: percent% of active requests may retry",
      cluster: cluster({ maxRetries: 0 }, { percent: 20, minRetryConcurrency: 1 }),
      active: 20,
      retrying: 3,
      expect: "retry",
    },
    {
      rule: "retryBudget: past percent% of active requests the retry is refused, naming the budget",
      cluster: cluster({ maxRetries: 100 }, { percent: 20, minRetryConcurrency: 1 }),
      active: 20,
      retrying: 4,
      expect: "budget-refused",
      told: "not retried: retryBudget (20% of active requests, at least 1) exhausted for c",
    },
    {
      rule: "retryBudget: at least minRetryConcurrency may retry",
      cluster: cluster({}, { percent: 20, minRetryConcurrency: 3 }),
      active: 4,
      retrying: 2,
      expect: "retry",
    },
  ];
  for (const row of rows) {
    test(row.rule, () => {
      const rpcs: Admission[] = [];
      for (let i = 0; i < row.active; i++) rpcs.push(row.cluster.admit()!);
      for (let i = 0; i < row.retrying; i++) rpcs[i]!.retried();
      const asking = rpcs[row.active - 1]!;
      const d = decideRetry(
        {
          ...FIRST_FAILURE,
          failure: RESET,
          policy: retryOn("reset"),
          holdsRetrySlot: asking.holdsRetrySlot,
          budgetRefusal: asking.retryRefusal(),
        },
        () => 0.5,
      );
      assert.equal(outcome(d), row.expect);
      if (row.told !== undefined) assert.equal(d.kind === "fail" ? d.told : undefined, row.told);
    });
  }
});

describe("backoff: uniform in [0, backoff x 2^(n-1)), at most 10 x backoff", () => {
  const rows: readonly { rule: string; retry: number; random: number; expect: number }[] = [
    { rule: "the first retry waits up to the base", retry: 1, random: 0.5, expect: 12.5 },
    { rule: "the jitter reaches 0", retry: 1, random: 0, expect: 0 },
    { rule: "the jitter stays under the bound", retry: 1, random: 0.999, expect: 24.975 },
    { rule: "the second retry's bound doubles", retry: 2, random: 0.5, expect: 25 },
    { rule: "the fourth retry's bound is 8 x base", retry: 4, random: 0.5, expect: 100 },
    { rule: "the fifth retry's bound (16 x base) is capped at 10 x base", retry: 5, random: 0.5, expect: 125 },
    { rule: "later retries stay capped at 10 x base", retry: 30, random: 0.999, expect: 249.75 },
  ];
  for (const row of rows) {
    test(row.rule, () => assert.ok(Math.abs(retryBackoffMs(25, row.retry, () => row.random) - row.expect) < 1e-9));
  }
  test("a retry's delay is the backoff for its number, with the policy's base (default 25 ms)", () => {
    const d = decideRetry({ ...FIRST_FAILURE, retries: 2, failure: RESET, policy: retryOn("reset", { attempts: 5 }) }, () => 0.5);
    assert.deepEqual(d.kind === "retry" ? d.delayMs : null, 50);
  });
  test("the jitter is drawn only for a retry", () => {
    let draws = 0;
    const random = (): number => (draws++, 0.5);
    decideRetry({ ...FIRST_FAILURE, failure: RESET, policy: ISTIO_DEFAULT_RETRY }, random);
    decideRetry({ ...FIRST_FAILURE, failure: CONNECT, policy: ISTIO_DEFAULT_RETRY, retries: 2 }, random);
    assert.equal(draws, 0);
    decideRetry({ ...FIRST_FAILURE, failure: CONNECT, policy: ISTIO_DEFAULT_RETRY }, random);
    assert.equal(draws, 1);
  });
});

describe("where a retry goes", () => {
  const where = (policy: RetryPolicy, pinned: boolean): unknown => {
    const d = decideRetry({ ...FIRST_FAILURE, pinned, failure: CONNECT, policy }, () => 0.5);
    return d.kind === "retry" ? { pinned: d.pinned, avoidTried: d.avoidTried } : d.reason;
  };
  test("retryIgnorePreviousHosts (default true): an endpoint not tried yet", () =>
    assert.deepEqual(where(ISTIO_DEFAULT_RETRY, false), { pinned: false, avoidTried: true }));
  test("retryIgnorePreviousHosts false: the balancer's pick", () =>
    assert.deepEqual(where({ ...ISTIO_DEFAULT_RETRY, ignorePreviousHosts: false }, false), { pinned: false, avoidTried: false }));
  test("connection mode stays on the connection's endpoint (re-picking as above if it left the cluster)", () =>
    assert.deepEqual(where(ISTIO_DEFAULT_RETRY, true), { pinned: true, avoidTried: true }));

  const ep = (key: string, activeRequests = 0): LbEndpoint => ({
    key,
    address: key,
    port: 1,
    weight: 1,
    labels: {},
    load: { activeRequests, activeConnections: 0 },
  });
  const [a, b, c, d] = [ep("a", 3), ep("b", 5), ep("c", 1), ep("d", 2)];
  const rows: readonly {
    rule: string;
    picks: readonly (LbEndpoint | undefined)[];
    tried: readonly LbEndpoint[];
    untried: readonly LbEndpoint[];
    expect: LbEndpoint | undefined;
    picked: number;
  }[] = [
    { rule: "the balancer's pick when it is untried", picks: [b], tried: [a], untried: [b, c], expect: b, picked: 1 },
    { rule: "picks again while the picks land on tried endpoints", picks: [a, a, c], tried: [a], untried: [b, c], expect: c, picked: 3 },
    {
      rule: `after ${HOST_SELECTION_ATTEMPTS} tried picks, the least loaded untried endpoint (a hash policy always repeats itself)`,
      picks: [a, a, a, a, a, a],
      tried: [a],
      untried: [b, d, c],
      expect: c,
      picked: HOST_SELECTION_ATTEMPTS,
    },
    { rule: "with every endpoint tried, the last pick", picks: [a, b, a, b, a], tried: [a, b], untried: [], expect: a, picked: HOST_SELECTION_ATTEMPTS },
    { rule: "no pick (the balancer answered the client): no endpoint", picks: [a, undefined], tried: [a], untried: [b], expect: undefined, picked: 2 },
  ];
  for (const row of rows) {
    test(`host selection: ${row.rule}`, () => {
      let picked = 0;
      const next = pickUntried(
        () => row.picks[picked++],
        row.tried,
        () =>
          row.untried.reduce<LbEndpoint | undefined>(
            (best, e) => (best === undefined || e.load.activeRequests < best.load.activeRequests ? e : best),
            undefined,
          ),
      );
      assert.equal(next?.key, row.expect?.key);
      assert.equal(picked, row.picked);
    });
  }
});

describe(`a request never sent is replayed at once, whatever the policy, up to ${MAX_TRANSPARENT_RETRIES} times`, () => {
  const rows: readonly { rule: string; replayable: boolean; responded: boolean; replays: number; expect: boolean }[] = [
    { rule: "the first replay", replayable: true, responded: false, replays: 0, expect: true },
    { rule: "the last replay allowed", replayable: true, responded: false, replays: MAX_TRANSPARENT_RETRIES - 1, expect: true },
    { rule: "no more after the limit", replayable: true, responded: false, replays: MAX_TRANSPARENT_RETRIES, expect: false },
    { rule: "not once the client has response headers", replayable: true, responded: true, replays: 0, expect: false },
    { rule: "not once the request outgrew the retry buffer", replayable: false, responded: false, replays: 0, expect: false },
  ];
  for (const row of rows) test(row.rule, () => assert.equal(mayReplay(row.replayable, row.responded, row.replays), row.expect));
});
