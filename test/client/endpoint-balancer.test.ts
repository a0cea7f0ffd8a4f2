// EndpointBalancer's states when there is nothing to connect to, driven by hand through a
// recording ChannelControlHelper (no subchannel is ever created in these cases).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { EndpointBalancer } from "../../src/client/endpoint-balancer.js";
import { LeastRequestConfig } from "../../src/client/least-request.js";
import { PeakEwmaConfig } from "../../src/client/peak-ewma.js";

const { statusOrFromValue, statusOrFromError } = grpc.experimental;

interface Update {
  readonly state: grpc.connectivityState;
  readonly picker: grpc.experimental.Picker;
  readonly error: string | null;
}

function recordingHelper(): { helper: grpc.experimental.ChannelControlHelper; updates: Update[]; reresolutions: () => number } {
  const updates: Update[] = [];
  let reresolutions = 0;
  const helper: grpc.experimental.ChannelControlHelper = {
    createSubchannel: () => {
      throw new Error("no subchannel expected in this test");
    },
    updateState: (state, picker, error) => updates.push({ state, picker, error }),
    requestReresolution: () => {
      reresolutions++;
    },
    addChannelzChild: () => undefined,
    removeChannelzChild: () => undefined,
  };
  return { helper, updates, reresolutions: () => reresolutions };
}

const pickArgs = (): grpc.experimental.PickArgs => ({ metadata: new grpc.Metadata(), extraPickInfo: {} });

test("an empty address list is TRANSIENT_FAILURE, and picks fail with UNAVAILABLE saying so", () => {
  const { helper, updates } = recordingHelper();
  const lb = new EndpointBalancer(helper, "least_request");
  assert.equal(lb.updateAddressList(statusOrFromValue([]), new LeastRequestConfig(), {}, "dns says NXDOMAIN"), true);
  const last = updates.at(-1)!;
  assert.equal(last.state, grpc.connectivityState.TRANSIENT_FAILURE);
  assert.equal(last.error, "least_request: no addresses resolved (dns says NXDOMAIN)");
  const pick = last.picker.pick(pickArgs());
  assert.equal(pick.pickResultType, grpc.experimental.PickResultType.TRANSIENT_FAILURE);
  assert.equal(pick.status?.code, grpc.status.UNAVAILABLE);
  lb.destroy();
});

test("a resolver error before any endpoint is known is TRANSIENT_FAILURE with the resolver's status", () => {
  const { helper, updates } = recordingHelper();
  const lb = new EndpointBalancer(helper, "peak_ewma");
  const error = { code: grpc.status.UNAVAILABLE, details: "name resolution failed", metadata: new grpc.Metadata() };
  assert.equal(lb.updateAddressList(statusOrFromError(error), new PeakEwmaConfig(), {}, ""), true);
  const last = updates.at(-1)!;
  assert.equal(last.state, grpc.connectivityState.TRANSIENT_FAILURE);
  assert.equal(last.picker.pick(pickArgs()).status?.details, "name resolution failed");
  lb.destroy();
});

test("a balancer refuses a config of another policy (grpc-js then builds the right one)", () => {
  const { helper, updates } = recordingHelper();
  const lb = new EndpointBalancer(helper, "least_request");
  assert.equal(lb.updateAddressList(statusOrFromValue([]), new PeakEwmaConfig(), {}, ""), false);
  assert.equal(updates.length, 0);
  assert.equal(lb.getTypeName(), "least_request");
});
