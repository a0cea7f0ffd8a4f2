import { test } from "node:test";
import assert from "node:assert/strict";
import { httpStatusOfGrpc, Status, statusName } from "../../src/core/status.js";

test("status table follows Envoy's gRPC->HTTP mapping", () => {
  assert.equal(httpStatusOfGrpc(Status.UNAVAILABLE), 503);
  assert.equal(httpStatusOfGrpc(Status.CANCELLED), 499);
  assert.equal(httpStatusOfGrpc(Status.UNAUTHENTICATED), 401);
  assert.equal(statusName(Status.DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
});
