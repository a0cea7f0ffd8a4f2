// The JSON configs of sluice's grpc-js policies: defaults, A48's choiceCount cap, and a
// clear error for every bad value (thrown through grpc-js's own parser, which prefixes the
// policy name).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { ConfigError } from "../../src/client/config-fields.js";
import { LeastRequestConfig } from "../../src/client/least-request.js";
import { register } from "../../src/client/register.js";
import { SluiceError } from "../../src/core/errors.js";
import { Status } from "../../src/core/status.js";

register();

const parse = (config: object): object => grpc.experimental.parseLoadBalancingConfig(config as never).toJsonObject();

test("configs are completed with their defaults", () => {
  assert.deepEqual(parse({ least_request: {} }), { least_request: { choiceCount: 2 } });
  assert.deepEqual(parse({ peak_ewma: {} }), { peak_ewma: { decay: "10s", defaultRtt: "30ms" } });
  assert.deepEqual(parse({ ring_hash: { requestHashHeader: "X-User" } }), {
    ring_hash: { requestHashHeader: "x-user", minRingSize: 1024, maxRingSize: 8 * 1024 * 1024 },
  });
});

test("configs keep valid values", () => {
  assert.deepEqual(parse({ least_request: { choiceCount: 3 } }), { least_request: { choiceCount: 3 } });
  assert.deepEqual(parse({ least_request: { choiceCount: "4" } }), { least_request: { choiceCount: 4 } });
  assert.deepEqual(parse({ peak_ewma: { decay: "1.5s", defaultRtt: "100ms" } }), { peak_ewma: { decay: "1500ms", defaultRtt: "100ms" } });
  assert.deepEqual(parse({ ring_hash: { requestHashHeader: "x-user", minRingSize: 16, maxRingSize: "4096" } }), {
    ring_hash: { requestHashHeader: "x-user", minRingSize: 16, maxRingSize: 4096 },
  });
});

test("least_request caps choiceCount at 10 (gRFC A48)", () => {
  assert.deepEqual(parse({ least_request: { choiceCount: 11 } }), { least_request: { choiceCount: 10 } });
  assert.deepEqual(parse({ least_request: { choiceCount: 4294967295 } }), { least_request: { choiceCount: 10 } });
});

const invalid: ReadonlyArray<{ config: object; error: RegExp }> = [
  { config: { least_request: { choiceCount: 1 } }, error: /Error: least_request: choiceCount must be an integer >= 2, got 1$/ },
  { config: { least_request: { choiceCount: 0 } }, error: /choiceCount must be an integer >= 2, got 0/ },
  { config: { least_request: { choiceCount: 2.5 } }, error: /choiceCount must be an integer .* got 2\.5/ },
  { config: { least_request: { choiceCount: "two" } }, error: /choiceCount must be an integer .* got "two"/ },
  { config: { least_request: { choice_count: 3 } }, error: /unknown field "choice_count" \(use "choiceCount": service config JSON names are camelCase\)/ },
  { config: { least_request: [] }, error: /Error: least_request: must be an object, got a list$/ },
  { config: { peak_ewma: { decay: 10 } }, error: /decay must be a duration string like "10s" or "30ms", got 10/ },
  { config: { peak_ewma: { decay: "ten seconds" } }, error: /decay must be a duration like "10s".*got "ten seconds"/ },
  { config: { peak_ewma: { defaultRtt: "0ms" } }, error: /defaultRtt must be >= 1ms, got "0ms"/ },
  { config: { peak_ewma: { decay: "-1s", default_rtt: "30ms" } }, error: /unknown field "default_rtt" \(use "defaultRtt".*; decay must be >= 1ms, got "-1s"$/ },
  { config: { ring_hash: {} }, error: /requestHashHeader is required/ },
  { config: { ring_hash: { requestHashHeader: "x-user-bin" } }, error: /requestHashHeader must not be a binary \(-bin\) header, got "x-user-bin"/ },
  { config: { ring_hash: { requestHashHeader: ":path" } }, error: /requestHashHeader must be a metadata key .*got ":path"/ },
  { config: { ring_hash: { requestHashHeader: "" } }, error: /requestHashHeader must name a metadata key/ },
  { config: { ring_hash: { requestHashHeader: 7 } }, error: /requestHashHeader must be a string, got 7/ },
  { config: { ring_hash: { requestHashHeader: "x", minRingSize: 0 } }, error: /minRingSize must be an integer in 1\.\.8388608, got 0/ },
  { config: { ring_hash: { requestHashHeader: "x", maxRingSize: 8388609 } }, error: /maxRingSize must be an integer in 1\.\.8388608, got 8388609/ },
  {
    config: { ring_hash: { requestHashHeader: "x", minRingSize: 4096, maxRingSize: 1024 } },
    error: /minRingSize \(4096\) must not exceed maxRingSize \(1024\)/,
  },
];

for (const { config, error } of invalid) {
  test(`rejects ${JSON.stringify(config)}`, () => {
    assert.throws(() => parse(config), error);
  });
}

test("a bad sluice config is skipped for the next loadBalancingConfig entry, as grpc-js does for any policy", () => {
  const selected = grpc.experimental.selectLbConfigFromList([{ least_request: { choiceCount: 1 } }, { peak_ewma: {} }]);
  assert.equal(selected?.getLoadBalancerName(), "peak_ewma");
});

test("a policy's createFromJson throws a ConfigError: an INVALID_ARGUMENT status listing every problem", () => {
  assert.throws(
    () => LeastRequestConfig.createFromJson({ choiceCount: 1, choice_count: 3 }),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.ok(e instanceof SluiceError);
      assert.equal(e.grpcStatus, Status.INVALID_ARGUMENT);
      assert.equal(e.policy, "least_request");
      assert.deepEqual(e.problems, [
        'unknown field "choice_count" (use "choiceCount": service config JSON names are camelCase); known fields: choiceCount',
        "choiceCount must be an integer >= 2, got 1",
      ]);
      assert.equal(e.message, e.problems.join("; "));
      return true;
    },
  );
});

test("a wrapper policy's explicit hint for a field beats the camelCase one", () => {
  assert.throws(
    () => parse({ max_requests_per_connection: { maxRequestsPerConnections: 5, childPolicy: [{ round_robin: {} }] } }),
    /unknown field "maxRequestsPerConnections" \(use "maxRequestsPerConnection"\)/,
  );
});
