// Who an attempt's end tells about: the one rule outlier detection, per-endpoint error counts
// and peak EWMA share for not blaming an endpoint for the client's own cancel.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AttemptEnd, causeOf, type AttemptCause } from "../../src/balancer/outcome.js";

const rows: readonly (readonly [keyof typeof AttemptEnd, AttemptCause])[] = [
  ["RESPONSE", "backend"],
  ["CONNECT_FAILURE", "network"],
  ["RESET", "network"],
  ["TIMEOUT", "network"],
  ["CANCELLED", "client"],
];

for (const [end, cause] of rows) {
  test(`${end} is the ${cause}'s doing`, () => {
    assert.equal(causeOf(AttemptEnd[end]), cause);
  });
}
