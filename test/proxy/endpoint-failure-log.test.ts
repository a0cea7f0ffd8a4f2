// An endpoint's failure is logged once per reason, again after it was READY in between.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EndpointFailureLog } from "../../src/proxy/endpoint-failure-log.js";
import { PoolState } from "../../src/upstream/endpoint-pool.js";

test("one warning per endpoint and reason; READY forgets it; another reason or endpoint is told", () => {
  const lines: string[] = [];
  const log = new EndpointFailureLog((_fields, message) => lines.push(message));
  const tls = "connect failed: upstream TLS error: certificate has expired";
  const steps: Array<[string, PoolState, string]> = [
    ["10.0.0.1:80", PoolState.CONNECTING, "connecting 1"],
    ["10.0.0.1:80", PoolState.TRANSIENT_FAILURE, tls],
    ["10.0.0.1:80", PoolState.CONNECTING, "backoff over"],
    ["10.0.0.1:80", PoolState.TRANSIENT_FAILURE, tls], // the same again: not logged
    ["10.0.0.2:80", PoolState.TRANSIENT_FAILURE, tls], // another endpoint
    ["10.0.0.1:80", PoolState.TRANSIENT_FAILURE, "connect failed: ECONNREFUSED"], // another reason
    ["10.0.0.1:80", PoolState.READY, "peer settings received"],
    ["10.0.0.1:80", PoolState.TRANSIENT_FAILURE, "connect failed: ECONNREFUSED"], // after READY: told again
  ];
  for (const [endpoint, state, why] of steps) log.stateChanged("c", endpoint, state, why);
  assert.deepEqual(lines, [
    `endpoint 10.0.0.1:80 of c unreachable: ${tls}`,
    `endpoint 10.0.0.2:80 of c unreachable: ${tls}`,
    "endpoint 10.0.0.1:80 of c unreachable: connect failed: ECONNREFUSED",
    "endpoint 10.0.0.1:80 of c unreachable: connect failed: ECONNREFUSED",
  ]);
});
