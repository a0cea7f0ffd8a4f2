// How each failure the forwarder meets becomes the client's status and Envoy's response flag:
// one row per rule of src/proxy/local-status.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Status } from "../../src/core/status.js";
import { overflow, perTryTimeout, pickFailure, poolRefusal, resetStatus, type LocalStatus } from "../../src/proxy/local-status.js";
import { ResponseFlag } from "../../src/proxy/response-flags.js";
import { H2Code } from "../../src/transport/types.js";
import { ConnectFailure, EndpointGone, PendingOverflow } from "../../src/upstream/endpoint-pool.js";

const rows: readonly (readonly [string, LocalStatus, Pick<LocalStatus, "code" | "flag">])[] = [
  ["http2MaxRequests refuses: UNAVAILABLE, UO", overflow(10, "c"), { code: Status.UNAVAILABLE, flag: ResponseFlag.UPSTREAM_OVERFLOW }],
  ["nothing to pick: UNAVAILABLE, UH", pickFailure({ kind: "queue" }), { code: Status.UNAVAILABLE, flag: ResponseFlag.NO_HEALTHY_UPSTREAM }],
  [
    "a policy fails the pick with UNAVAILABLE: UH",
    pickFailure({ kind: "fail", status: Status.UNAVAILABLE, message: "x" }),
    { code: Status.UNAVAILABLE, flag: ResponseFlag.NO_HEALTHY_UPSTREAM },
  ],
  [
    "a policy answers with a status of its own: that status, no flag",
    pickFailure({ kind: "fail", status: Status.INVALID_ARGUMENT, message: "x" }),
    { code: Status.INVALID_ARGUMENT, flag: ResponseFlag.NONE },
  ],
  ["connect failed: UNAVAILABLE, UF", poolRefusal(new ConnectFailure("x"), "x"), { code: Status.UNAVAILABLE, flag: ResponseFlag.UPSTREAM_CONNECTION_FAILURE }],
  [
    "endpoint left while queued: UNAVAILABLE, UH",
    poolRefusal(new EndpointGone("x"), "x"),
    { code: Status.UNAVAILABLE, flag: ResponseFlag.NO_HEALTHY_UPSTREAM },
  ],
  [
    "http1MaxPendingRequests refuses: UNAVAILABLE, UO",
    poolRefusal(new PendingOverflow("x"), "x"),
    { code: Status.UNAVAILABLE, flag: ResponseFlag.UPSTREAM_OVERFLOW },
  ],
  [
    "connection lost mid-response: UNAVAILABLE, UC",
    resetStatus(H2Code.CANCEL, true, true, "x"),
    { code: Status.UNAVAILABLE, flag: ResponseFlag.UPSTREAM_CONNECTION_TERMINATION },
  ],
  [
    "reset before the response: UNAVAILABLE, UR",
    resetStatus(H2Code.INTERNAL_ERROR, false, false, "x"),
    { code: Status.UNAVAILABLE, flag: ResponseFlag.UPSTREAM_REMOTE_RESET },
  ],
  [
    "refused stream after the response began: UNAVAILABLE",
    resetStatus(H2Code.REFUSED_STREAM, false, true, "x"),
    { code: Status.UNAVAILABLE, flag: ResponseFlag.UPSTREAM_REMOTE_RESET },
  ],
  [
    "reset mid-response maps as grpc-js maps RST_STREAM (CANCEL: CANCELLED)",
    resetStatus(H2Code.CANCEL, false, true, "x"),
    { code: Status.CANCELLED, flag: ResponseFlag.UPSTREAM_REMOTE_RESET },
  ],
  [
    "reset mid-response with INTERNAL_ERROR: INTERNAL",
    resetStatus(H2Code.INTERNAL_ERROR, false, true, "x"),
    { code: Status.INTERNAL, flag: ResponseFlag.UPSTREAM_REMOTE_RESET },
  ],
  [
    "per-try timeout: UNAVAILABLE (the call's deadline has not passed), UT",
    perTryTimeout("x"),
    { code: Status.UNAVAILABLE, flag: ResponseFlag.UPSTREAM_REQUEST_TIMEOUT },
  ],
];

for (const [rule, got, want] of rows) {
  test(rule, () => {
    assert.deepEqual({ code: got.code, flag: got.flag }, want);
  });
}
