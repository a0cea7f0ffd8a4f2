// VirtualService retries and DestinationRule retryBudget: Istio's defaults, parsing, and
// clear problems for what is wrong.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_RETRY_BUDGET, ISTIO_DEFAULT_RETRY } from "../../src/config/retry.js";
import type { ProxyConfig } from "../../src/config/types.js";
import { destinationRule, docs, load, mustLoad, oneProblem, SERVICE_ENTRY } from "./helpers.js";

const vs = (http: string): string =>
  docs(SERVICE_ENTRY, `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  hosts: [grpc-service]\n  http:\n${http}`);
const routeWith = (retries: string): string => vs(`  - retries: ${retries}\n    route: [{destination: {host: grpc-service}}]\n`);
const firstRoute = (c: ProxyConfig) => c.virtualHosts[0]!.routes[0]!;

test("a route without retries, and a host without a VirtualService, get Istio's default policy", () => {
  assert.equal(firstRoute(mustLoad(SERVICE_ENTRY)).retry, ISTIO_DEFAULT_RETRY);
  assert.equal(firstRoute(mustLoad(vs("  - route: [{destination: {host: grpc-service}}]\n"))).retry, ISTIO_DEFAULT_RETRY);
  assert.equal(ISTIO_DEFAULT_RETRY.attempts, 2);
  assert.deepEqual([...ISTIO_DEFAULT_RETRY.retryOn].sort(), ["cancelled", "connect-failure", "refused-stream", "retriable-status-codes", "unavailable"]);
});

test("every retries field is read: attempts, perTryTimeout, retryOn (names and codes), previous hosts, backoff", () => {
  const r = firstRoute(
    mustLoad(routeWith("{attempts: 4, perTryTimeout: 250ms, retryOn: 'internal, 5xx,503,reset', retryIgnorePreviousHosts: false, backoff: 10ms}")),
  ).retry;
  assert.equal(r.attempts, 4);
  assert.equal(r.perTryTimeoutMs, 250);
  assert.deepEqual([...r.retryOn].sort(), ["5xx", "internal", "reset", "retriable-status-codes"]);
  assert.deepEqual([...r.retriableStatusCodes], [503]);
  assert.equal(r.ignorePreviousHosts, false);
  assert.equal(r.backoffBaseMs, 10);
});

test("attempts 0 turns retries off; retryOn left out keeps Istio's conditions", () => {
  assert.equal(firstRoute(mustLoad(routeWith("{attempts: 0}"))).retry.attempts, 0);
  const r = firstRoute(mustLoad(routeWith("{attempts: 5}"))).retry;
  assert.equal(r.attempts, 5);
  assert.equal(r.retryOn, ISTIO_DEFAULT_RETRY.retryOn);
  assert.equal(r.perTryTimeoutMs, null);
});

test("retryOn: an unknown condition is a problem with a hint; conditions that never apply to gRPC warn", () => {
  oneProblem(routeWith("{attempts: 1, retryOn: 'unavaliable'}"), /retryOn: unknown retry condition "unavaliable" \(did you mean unavailable\?\)/);
  oneProblem(routeWith("{attempts: 1, retryOn: '700'}"), /retryOn: 700 is not an HTTP status code/);
  oneProblem(routeWith("{attempts: -1}"), /attempts: must be an integer/);
  const r = load(routeWith("{attempts: 1, retryOn: 'retriable-4xx,unavailable'}"));
  assert.ok(r.ok);
  assert.deepEqual(
    r.config.warnings.map((w) => `${w.path}: ${w.message}`),
    ["spec.http[0].retries.retryOn: retriable-4xx never applies to gRPC through sluice (a gRPC backend answers 200 and puts its error in grpc-status)"],
  );
});

test("retryBudget: defaults, and a subset's budget replaces the DestinationRule's", () => {
  const c = mustLoad(
    docs(
      SERVICE_ENTRY,
      destinationRule(
        "  host: grpc-service\n  trafficPolicy:\n    retryBudget: {}\n  subsets:\n  - name: v1\n    labels: {version: v1}\n    trafficPolicy:\n      retryBudget: {percent: 50, minRetryConcurrency: 1}\n",
      ),
    ),
  );
  const byName = (n: string) => [...c.clusters.values()].find((x) => x.name.endsWith(n))!;
  assert.deepEqual(byName("|").policy.retryBudget, DEFAULT_RETRY_BUDGET);
  assert.deepEqual(byName("|v1").policy.retryBudget, { percent: 50, minRetryConcurrency: 1 });
  assert.equal(mustLoad(SERVICE_ENTRY).clusters.values().next().value!.policy.retryBudget, null);
});
