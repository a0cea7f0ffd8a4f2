import { test } from "node:test";
import assert from "node:assert/strict";
import { httpStatusOfGrpc, Status, STATUS_OF_RESET, statusName, statusOfReset } from "../../src/core/status.js";
import { H2Code } from "../../src/transport/types.js";

test("status table follows Envoy's gRPC->HTTP mapping", () => {
  assert.equal(httpStatusOfGrpc(Status.UNAVAILABLE), 503);
  assert.equal(httpStatusOfGrpc(Status.CANCELLED), 499);
  assert.equal(httpStatusOfGrpc(Status.UNAUTHENTICATED), 401);
  assert.equal(statusName(Status.DEADLINE_EXCEEDED), "DEADLINE_EXCEEDED");
});

test("a reset after the response began maps as grpc-js maps RST_STREAM codes; any other code is INTERNAL", () => {
  const cases: readonly [code: number, name: string, status: number][] = [
    [0x7, "REFUSED_STREAM", Status.UNAVAILABLE],
    [0x8, "CANCEL", Status.CANCELLED],
    [0xb, "ENHANCE_YOUR_CALM", Status.RESOURCE_EXHAUSTED],
    [0xc, "INADEQUATE_SECURITY", Status.PERMISSION_DENIED],
    [0x0, "NO_ERROR", Status.INTERNAL],
    [0x1, "PROTOCOL_ERROR", Status.INTERNAL],
    [0x2, "INTERNAL_ERROR", Status.INTERNAL],
    [0xd, "HTTP_1_1_REQUIRED", Status.INTERNAL],
    [0xff, "unknown", Status.INTERNAL],
  ];
  for (const [code, name, status] of cases) assert.equal(statusOfReset(code), status, `${name} -> ${statusName(status)}`);
  for (const [code, row] of STATUS_OF_RESET) {
    assert.equal(H2Code[row.name as keyof typeof H2Code], code, `${row.name} is RFC 9113's code ${code}`);
    assert.ok(row.reason.length > 0);
  }
});
