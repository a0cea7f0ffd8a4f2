// --client-options files: grpc-js options, [key, value] pairs, service configs; every bad
// input is a finding with its line, never an exception.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseClientOptions } from "../../src/analyze/client-options.js";

test("a JSON object of grpc-js options is read with each option's line", () => {
  const r = parseClientOptions("c.json", '{\n  "grpc.keepalive_time_ms": 30000,\n  "grpc.keepalive_permit_without_calls": 1\n}');
  assert.ok(r.ok);
  assert.deepEqual(r.options.keepaliveTimeMs, { value: 30000, line: 2 });
  assert.deepEqual(r.options.permitWithoutCalls, { value: true, line: 3 });
  assert.equal(r.options.keepaliveTimeoutMs, null);
  assert.deepEqual(r.findings, []);
});

test("a list of [key, value] pairs (Python's options=[...]) is read too; True counts as on, with a warning that grpc-js ignores it", () => {
  const r = parseClientOptions("c.json", '[["grpc.keepalive_time_ms", 30000], ["grpc.keepalive_permit_without_calls", true]]');
  assert.ok(r.ok);
  assert.equal(r.options.keepaliveTimeMs?.value, 30000);
  assert.equal(r.options.permitWithoutCalls?.value, true);
  assert.deepEqual(
    r.findings.map((f) => [f.rule, f.path]),
    [["client-option-ignored", "grpc.keepalive_permit_without_calls"]],
  );
  assert.match(r.findings[0]?.reason ?? "", /only for the number 1/);
  const one = parseClientOptions("c.json", '{"grpc.keepalive_permit_without_calls": 1}');
  assert.ok(one.ok);
  assert.deepEqual(one.findings, []);
});

test("malformed JSON is a client-options-error with its line, not an exception", () => {
  const r = parseClientOptions("c.json", '{\n  "grpc.keepalive_time_ms": 30000,\n}');
  assert.equal(r.ok, false);
  assert.equal(r.findings.length, 1);
  const f = r.findings[0];
  assert.equal(f?.rule, "client-options-error");
  assert.equal(f?.severity, "error");
  assert.equal(f?.line, 3);
  assert.match(f?.reason ?? "", /^not valid JSON: /);
});

// Wrong shapes and types are errors naming the option.
for (const [text, path, reason] of [
  ["42", "", /must be a JSON object of channel options/],
  ['{"grpc.keepalive_time_ms": "30s"}', "grpc.keepalive_time_ms", /must be an integer number of milliseconds, got "30s"/],
  ['{"grpc.keepalive_permit_without_calls": 2}', "grpc.keepalive_permit_without_calls", /must be 0 or 1, got 2/],
  ['{"grpc.service_config": "{not json"}', "grpc.service_config", /its string is not valid JSON/],
  ['{"loadBalancingConfig": {"round_robin": {}}}', "loadBalancingConfig", /must be a list/],
  ['{"grpc.service_config": "{\\"loadBalancingConfig\\": [{}]}"}', "loadBalancingConfig[0]", /exactly one policy name/],
] as const) {
  test(`client options ${text}: an error at ${JSON.stringify(path)}, ${reason.source}`, () => {
    const r = parseClientOptions("c.json", text);
    assert.equal(r.ok, false, text);
    assert.equal(r.findings[0]?.path, path, text);
    assert.match(r.findings[0]?.reason ?? "", reason, text);
  });
}

test("a service config, alone or in grpc.service_config, gives its policy names", () => {
  const alone = parseClientOptions("sc.json", '{"loadBalancingConfig": [{"round_robin": {}}]}');
  assert.ok(alone.ok);
  assert.deepEqual(alone.options.lbPolicies?.value, ["round_robin"]);
  const inOption = parseClientOptions(
    "c.json",
    JSON.stringify({ "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ pick_first: {} }, { round_robin: {} }] }) }),
  );
  assert.ok(inOption.ok);
  assert.deepEqual(inOption.options.lbPolicies?.value, ["pick_first", "round_robin"]);
});

test("a misspelled option is a client-option-unknown warning with the likely name; other unknown keys pass", () => {
  const r = parseClientOptions("c.json", '{\n  "grpc.keepalive_tme_ms": 30000,\n  "grpc.http2.min_time_between_pings_ms": 10000\n}');
  assert.ok(r.ok);
  assert.equal(r.options.keepaliveTimeMs, null);
  assert.deepEqual(
    r.findings.map((f) => [f.rule, f.line, f.path, f.fix]),
    [["client-option-unknown", 2, "grpc.keepalive_tme_ms", 'rename it to "grpc.keepalive_time_ms"']],
  );
});
