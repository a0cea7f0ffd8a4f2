// Where an RPC's attempts go: the pinned endpoint first in connection mode, the balancer's
// choice otherwise, the status the RPC fails with when the balancer has nothing, a retry
// away from the endpoints tried, a refused retry's reason told with the failure.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Pin } from "../../src/balancer/connection-pins.js";
import type { LbEndpoint, PickResult } from "../../src/balancer/types.js";
import { ISTIO_DEFAULT_RETRY } from "../../src/config/retry.js";
import { Status } from "../../src/core/status.js";
import { Attempts, isEndpoint, type AttemptsCluster, type NextAttempt } from "../../src/proxy/attempts.js";
import { ResponseFlag } from "../../src/proxy/response-flags.js";
import { CONNECT_FAILURE } from "../../src/resilience/retry-policy.js";
import { ClusterAdmission } from "../../src/upstream/admission.js";
import { admissionSource } from "../support/admission.js";

function endpoint(key: string): LbEndpoint {
  return { key, address: "127.0.0.1", port: 1, weight: 1, labels: {}, load: { activeRequests: 0, activeConnections: 0 } };
}
const [A, B, C] = [endpoint("a:1"), endpoint("b:1"), endpoint("c:1")];

/** A cluster whose balancer answers from a script (one answer per pick, the last repeated) over `members`. */
function cluster(picks: readonly (LbEndpoint | "none")[], members: readonly LbEndpoint[] = [A, B, C]) {
  let i = 0;
  const c: AttemptsCluster & { picks: number } = {
    picks: 0,
    name: "echo",
    random: () => 0.5,
    pick(): PickResult {
      c.picks++;
      const next = picks[Math.min(i++, picks.length - 1)]!;
      return next === "none" ? { kind: "queue" } : { kind: "endpoint", endpoint: next };
    },
    untried: (tried) => members.find((e) => !tried.includes(e)),
  };
  return c;
}

/** Connection mode's pin, as the RPC sees it: the endpoint the connection is on now (its moves are connection-pins.ts's). */
function pinAt(...endpoints: readonly (LbEndpoint | undefined)[]): Pin {
  let i = 0;
  return { endpoint: () => endpoints[Math.min(i++, endpoints.length - 1)] };
}

function attempts(c: AttemptsCluster, pinned?: LbEndpoint | Pin, maxRetries = 10): Attempts {
  const admission = new ClusterAdmission(admissionSource({ maxRetries }, null, "echo")).admit()!;
  const request = { replayable: true, header: () => undefined, path: "/echo.Echo/Say", authority: "echo", sourceIp: "127.0.0.1" };
  return new Attempts(c, request, admission, ISTIO_DEFAULT_RETRY, pinned === undefined || "endpoint" in pinned ? pinned : pinAt(pinned));
}

function key(next: NextAttempt): string {
  return isEndpoint(next) ? next.key : `status ${next.code} ${next.flag}`;
}

test("the first attempt: connection mode's pinned endpoint without asking the balancer; else the balancer's choice", () => {
  const c = cluster([B]);
  assert.equal(key(attempts(c, A).first()), "a:1");
  assert.equal(c.picks, 0);
  assert.equal(key(attempts(c).first()), "b:1");
});

test("no endpoint from the balancer: the RPC fails UNAVAILABLE, no healthy upstream (UH)", () => {
  const next = attempts(cluster(["none"])).first();
  assert.ok(!isEndpoint(next));
  assert.deepEqual([next.code, next.message, next.flag], [Status.UNAVAILABLE, "no healthy upstream", ResponseFlag.NO_HEALTHY_UPSTREAM]);
});

test("a retry goes to an endpoint not tried yet; the balancer's failure during that search is the RPC's status", () => {
  const retried = (picks: readonly (LbEndpoint | "none")[]): string => {
    const a = attempts(cluster(picks));
    a.enter(A);
    const retry = a.retry(CONNECT_FAILURE, false, "reset");
    assert.ok(retry !== undefined && retry.avoidTried);
    return key(a.next(retry.pinned, retry.avoidTried));
  };
  assert.equal(retried([A, A, C]), "c:1", "tried endpoints are passed over");
  assert.equal(retried([A]), "b:1", "after the balancer's attempts, the cluster's untried endpoint");
  assert.equal(retried([A, "none"]), `status ${Status.UNAVAILABLE} ${ResponseFlag.NO_HEALTHY_UPSTREAM}`, "the balancer has nothing: fail, not loop");
});

test("connection mode: a retry goes where the connection's pin is now; with no pin left (connection closed) the balancer picks", () => {
  const stay = attempts(cluster([B]), A);
  stay.enter(A);
  assert.equal(key(stay.next(true, false)), "a:1");
  const moved = attempts(cluster([B]), pinAt(A, C));
  moved.enter(moved.first() as LbEndpoint);
  assert.equal(key(moved.next(true, false)), "c:1", "the pin moved (its endpoint could no longer be picked)");
  const closed = attempts(cluster([B]), pinAt(A, undefined));
  closed.enter(closed.first() as LbEndpoint);
  assert.equal(key(closed.next(true, false)), "b:1");
});

test("a retry the cluster's maxRetries refuses is not made, and its reason joins the client's failure message", () => {
  const a = attempts(cluster([A]), undefined, 0);
  a.enter(A);
  assert.equal(a.withRefusal("reset by a:1"), "reset by a:1");
  assert.equal(a.retry(CONNECT_FAILURE, false, "reset"), undefined);
  assert.equal(a.withRefusal("reset by a:1"), "reset by a:1; not retried: maxRetries limit (0) reached for echo");
  assert.equal(a.admission.retries, 0);
});

test("a request no backend saw is replayed (counted as transparent, not as a retry) until a response began", () => {
  const a = attempts(cluster([A]));
  a.enter(A);
  assert.ok(a.replay(false, "refused"));
  assert.deepEqual([a.admission.transparentRetries, a.admission.retries, a.isRetry], [1, 0, true]);
  assert.equal(a.replay(true, "refused"), false);
});
