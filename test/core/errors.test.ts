import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import pino from "pino";
import { UnknownPolicyError } from "../../src/balancer/registry.js";
import { ConfigError } from "../../src/client/config-fields.js";
import { DnsNoAddressesError, DnsTimeoutError, EndpointsRejectedError } from "../../src/client/dns-resolver.js";
import {
  codeOf,
  ErrorCode,
  formatError,
  InternalError,
  InvalidArgumentError,
  InvalidStateError,
  ProtoMissingError,
  SluiceError,
} from "../../src/core/errors.js";
import { Status, type StatusCode } from "../../src/core/status.js";
import { ConfigInvalidError, ReloadRejectedError, XdsUnmappableError } from "../../src/runtime/errors.js";
import { ScenarioError } from "../../src/sim/scenario-file.js";
import { ScenarioEventError, SimulationTooLargeError } from "../../src/sim/simulation.js";
import { ConnectTimeoutError, Http2ConnectionError, UpstreamTlsError } from "../../src/transport/errors.js";
import { HpackError } from "../../src/transport/h2/hpack/errors.js";
import { H2Code } from "../../src/transport/types.js";
import { ConnectFailure, EndpointGone, PendingOverflow } from "../../src/upstream/endpoint-pool.js";

// One of each class: [error, its code, the status a gRPC client sees (undefined: none does)].
const EVERY_CLASS: readonly (readonly [SluiceError, ErrorCode, StatusCode | undefined])[] = [
  [new InvalidArgumentError("x"), "SLUICE_ERR_INVALID_ARGUMENT", Status.INVALID_ARGUMENT],
  [new InvalidStateError("x"), "SLUICE_ERR_INVALID_STATE", undefined],
  [new InternalError("x"), "SLUICE_ERR_INTERNAL", undefined],
  [new ProtoMissingError("x"), "SLUICE_ERR_PROTO_MISSING", undefined],
  [new ConnectTimeoutError("x"), "SLUICE_ERR_CONNECT_TIMEOUT", undefined],
  [new Http2ConnectionError("x", H2Code.PROTOCOL_ERROR), "SLUICE_ERR_H2_CONNECTION", undefined],
  [new UpstreamTlsError("x"), "SLUICE_ERR_UPSTREAM_TLS", undefined],
  [new HpackError("truncated", "x"), "SLUICE_ERR_HPACK", undefined],
  [new UnknownPolicyError("x"), "SLUICE_ERR_UNKNOWN_POLICY", undefined],
  [new ConnectFailure("x"), "SLUICE_ERR_CONNECT_FAILURE", Status.UNAVAILABLE],
  [new EndpointGone("x"), "SLUICE_ERR_ENDPOINT_GONE", Status.UNAVAILABLE],
  [new PendingOverflow("x"), "SLUICE_ERR_PENDING_OVERFLOW", Status.UNAVAILABLE],
  [new ConfigError("least_request", ["x"]), "SLUICE_ERR_LB_CONFIG", Status.INVALID_ARGUMENT],
  [new DnsNoAddressesError("x"), "SLUICE_ERR_DNS_NO_ADDRESSES", Status.UNAVAILABLE],
  [new DnsTimeoutError("x"), "SLUICE_ERR_DNS_TIMEOUT", Status.UNAVAILABLE],
  [new EndpointsRejectedError("x"), "SLUICE_ERR_ENDPOINTS_REJECTED", Status.UNAVAILABLE],
  [new ScenarioError("x"), "SLUICE_ERR_SCENARIO_INVALID", undefined],
  [new ScenarioEventError("x"), "SLUICE_ERR_SCENARIO_EVENT", undefined],
  [new SimulationTooLargeError("x"), "SLUICE_ERR_SIM_TOO_LARGE", undefined],
  [new ReloadRejectedError("x"), "SLUICE_ERR_RELOAD_REJECTED", undefined],
  [new ConfigInvalidError("x"), "SLUICE_ERR_CONFIG_INVALID", undefined],
  [new XdsUnmappableError("x"), "SLUICE_ERR_XDS_UNMAPPABLE", undefined],
];

test("error codes are unique and SLUICE_ERR_ names", () => {
  const codes = Object.values(ErrorCode);
  assert.equal(new Set(codes).size, codes.length, "a code listed twice");
  for (const code of codes) assert.match(code, /^SLUICE_ERR_[A-Z0-9_]+$/);
  for (const [key, code] of Object.entries(ErrorCode)) assert.equal(code, `SLUICE_ERR_${key}`, "the key is the code without its prefix");
});

test("every code has exactly one class, whose name is its class name", () => {
  assert.deepEqual(EVERY_CLASS.map(([, code]) => code).sort(), Object.values(ErrorCode).sort(), "one class per listed code");
  for (const [err, code, grpcStatus] of EVERY_CLASS) {
    assert.ok(err instanceof SluiceError && err instanceof Error);
    assert.equal(err.code, code, err.name);
    assert.equal(err.name, err.constructor.name, "name is the class name (stable, not minified)");
    assert.equal(err.grpcStatus, grpcStatus, err.name);
  }
});

test("a SluiceError keeps its message and cause", () => {
  const cause = new Error("ECONNREFUSED");
  const err = new ConnectFailure("upstream connect error: ECONNREFUSED", { cause });
  assert.equal(err.message, "upstream connect error: ECONNREFUSED");
  assert.equal(err.cause, cause);
  assert.equal(new HpackError("index_zero", "indexed field 0").message, "HPACK index_zero: indexed field 0");
});

test("the CLI line: error [CODE]: message for a SluiceError, the bare message otherwise", () => {
  assert.equal(formatError(new ScenarioError("nope: not a scenario")), "error [SLUICE_ERR_SCENARIO_INVALID]: nope: not a scenario");
  assert.equal(formatError(new Error("EACCES")), "EACCES");
  assert.equal(formatError("thrown text"), "thrown text");
});

test("codeOf: the code a log line carries beside the message", () => {
  assert.equal(codeOf(new ReloadRejectedError("config reload rejected: x")), "SLUICE_ERR_RELOAD_REJECTED");
  assert.equal(codeOf(Object.assign(new Error("no such file"), { code: "ENOENT" })), "ENOENT");
  assert.equal(codeOf(new Error("plain")), undefined);
  assert.equal(codeOf("thrown text"), undefined);
});

test("a logged SluiceError carries its code and gRPC status (pino's err serializer)", () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  pino({ base: null }, sink).error({ err: new EndpointGone("upstream endpoint removed") }, "acquire failed");
  const logged = (JSON.parse(lines[0] ?? "{}") as { err?: Record<string, unknown> }).err;
  assert.equal(logged?.["code"], "SLUICE_ERR_ENDPOINT_GONE");
  assert.equal(logged?.["name"], "EndpointGone");
  assert.equal(logged?.["grpcStatus"], Status.UNAVAILABLE);
  assert.equal(logged?.["message"], "upstream endpoint removed");
});
