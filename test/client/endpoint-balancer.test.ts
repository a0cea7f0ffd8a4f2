// EndpointBalancer's states, driven by hand: with nothing to connect to, through a recording
// ChannelControlHelper (no subchannel is ever created in these cases); and its state
// aggregation, with fake subchannels under the real grpc-js pick_first leaves, each moved
// through its states by the test.
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

// State aggregation: fake subchannels under the real pick_first leaves.
const S = grpc.connectivityState;
type Listener = grpc.experimental.ConnectivityStateListener;

let nextId = 1;

/** The part of a subchannel pick_first uses; `set` moves it to a state as a real one would. */
class FakeSubchannel {
  private state: grpc.connectivityState = S.IDLE;
  private readonly listeners = new Set<Listener>();
  private readonly id = nextId++;
  constructor(private readonly address: string) {}
  set(state: grpc.connectivityState, error?: string): void {
    const before = this.state;
    this.state = state;
    for (const l of [...this.listeners]) l(this as unknown as grpc.experimental.SubchannelInterface, before, state, 0, error);
  }
  getConnectivityState(): grpc.connectivityState {
    return this.state;
  }
  addConnectivityStateListener(l: Listener): void {
    this.listeners.add(l);
  }
  removeConnectivityStateListener(l: Listener): void {
    this.listeners.delete(l);
  }
  startConnecting(): void {
    // The test decides when a connection attempt starts and how it ends.
  }
  getAddress(): string {
    return this.address;
  }
  throttleKeepalive(): void {}
  ref(): void {}
  unref(): void {}
  getChannelzRef(): object {
    return { kind: "subchannel", id: this.id, name: this.address };
  }
  isHealthy(): boolean {
    return true;
  }
  addHealthStateWatcher(): void {}
  removeHealthStateWatcher(): void {}
  addDataWatcher(): void {}
  realSubchannelEquals(other: unknown): boolean {
    return other === this;
  }
  getRealSubchannel(): unknown {
    return this;
  }
  getCallCredentials(): grpc.CallCredentials {
    return grpc.credentials.createEmpty();
  }
}

function harness(ports: readonly number[]): {
  lb: EndpointBalancer;
  subchannel: (port: number) => FakeSubchannel;
  state: () => grpc.connectivityState | undefined;
  updates: () => number;
  reresolutions: () => number;
} {
  const subchannels = new Map<number, FakeSubchannel>();
  const states: grpc.connectivityState[] = [];
  let reresolutions = 0;
  const helper: grpc.experimental.ChannelControlHelper = {
    createSubchannel: (address) => {
      const port = "port" in address ? address.port : 0;
      const fake = new FakeSubchannel(`127.0.0.1:${port}`);
      subchannels.set(port, fake);
      return fake as unknown as grpc.experimental.SubchannelInterface;
    },
    updateState: (state) => states.push(state),
    requestReresolution: () => {
      reresolutions++;
    },
    addChannelzChild: () => undefined,
    removeChannelzChild: () => undefined,
  };
  const lb = new EndpointBalancer(helper, "least_request");
  const endpoints = ports.map((port) => ({ addresses: [{ host: "127.0.0.1", port }] }));
  lb.updateAddressList(grpc.experimental.statusOrFromValue(endpoints), new LeastRequestConfig(), {}, "");
  return {
    lb,
    subchannel: (port) => {
      const s = subchannels.get(port);
      assert.ok(s !== undefined, `no subchannel for port ${port}`);
      return s;
    },
    state: () => states.at(-1),
    updates: () => states.length,
    reresolutions: () => reresolutions,
  };
}

test("READY if any endpoint is READY; CONNECTING while one still tries; TRANSIENT_FAILURE when all failed", () => {
  const h = harness([1001, 1002]);
  const a = h.subchannel(1001);
  const b = h.subchannel(1002);
  a.set(S.CONNECTING);
  b.set(S.CONNECTING);
  assert.equal(h.state(), S.CONNECTING);
  a.set(S.READY);
  assert.equal(h.state(), S.READY);
  b.set(S.TRANSIENT_FAILURE, "connection refused");
  assert.equal(h.state(), S.READY);
  // A's connection drops: its leaf goes IDLE and is told to reconnect at once, which
  // pick_first does on a new subchannel.
  const before = h.reresolutions();
  a.set(S.IDLE);
  assert.ok(h.reresolutions() > before, "losing a READY endpoint asks the resolver again");
  const a2 = h.subchannel(1001);
  assert.notEqual(a2, a, "the IDLE endpoint was not reconnected");
  a2.set(S.CONNECTING);
  assert.equal(h.state(), S.CONNECTING);
  a2.set(S.TRANSIENT_FAILURE, "connection refused");
  assert.equal(h.state(), S.TRANSIENT_FAILURE);
  h.lb.destroy();
});

test("an endpoint that failed counts as failed while it retries, until it is READY (gRFC A48)", () => {
  const h = harness([1001, 1002]);
  const a = h.subchannel(1001);
  const b = h.subchannel(1002);
  a.set(S.CONNECTING);
  b.set(S.CONNECTING);
  a.set(S.TRANSIENT_FAILURE, "refused");
  b.set(S.TRANSIENT_FAILURE, "refused");
  assert.equal(h.state(), S.TRANSIENT_FAILURE);
  // Reconnect attempts after backoff: the channel keeps failing calls fast.
  a.set(S.IDLE);
  a.set(S.CONNECTING);
  b.set(S.CONNECTING);
  assert.equal(h.state(), S.TRANSIENT_FAILURE);
  b.set(S.READY);
  assert.equal(h.state(), S.READY);
  h.lb.destroy();
});

test("a config change that arrives with a resolver error applies at once to the endpoints kept", () => {
  const h = harness([1001, 1002]);
  h.subchannel(1001).set(S.READY);
  h.subchannel(1002).set(S.READY);
  const before = h.updates();
  const error = { code: grpc.status.UNAVAILABLE, details: "DNS down", metadata: new grpc.Metadata() };
  h.lb.updateAddressList(grpc.experimental.statusOrFromError(error), new LeastRequestConfig(3), {}, "");
  assert.equal(h.updates(), before + 1, "a picker for the new policy is published");
  assert.equal(h.state(), S.READY);
  h.lb.destroy();
});
