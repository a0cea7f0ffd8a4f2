// Connection mode's pins with a hand-driven cluster: a connection keeps its endpoint while
// the balancer could pick it, and moves (counted, by why) once it left the cluster, was
// excluded outside panic, or cannot be reached; LEAST_CONN's counts follow every move, and
// an RPC of a closed connection gets no pin back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConnectionPins, type PinMove, type PinnableCluster } from "../../src/balancer/connection-pins.js";
import type { LbEndpoint, PickResult } from "../../src/balancer/types.js";
import { makeEndpoints, makeRequest } from "./fixtures.js";

/** A cluster whose state the test sets: members, excluded and unreachable keys, panic. Picks the least pinned pickable endpoint. */
class FakeCluster implements PinnableCluster {
  readonly name = "echo";
  panic = false;
  readonly members: Set<string>;
  readonly excluded = new Set<string>();
  readonly unreachable = new Set<string>();
  readonly moves: PinMove[] = [];

  constructor(private readonly endpoints: readonly LbEndpoint[]) {
    this.members = new Set(endpoints.map((e) => e.key));
  }

  isCurrent(e: LbEndpoint): boolean {
    return this.members.has(e.key);
  }
  isHealthy(key: string): boolean {
    return !this.excluded.has(key);
  }
  isPickable(e: LbEndpoint): boolean {
    return this.pickable().includes(e);
  }
  /** As ClusterRuntime: excluded endpoints only in panic; unreachable ones only when all are. */
  private pickable(): LbEndpoint[] {
    const candidates = this.endpoints.filter((e) => this.members.has(e.key) && (this.panic || !this.excluded.has(e.key)));
    const working = candidates.filter((e) => !this.unreachable.has(e.key));
    return working.length > 0 ? working : candidates;
  }
  pick(): PickResult {
    const [best] = this.pickable().sort((a, b) => a.load.activeConnections - b.load.activeConnections);
    return best === undefined ? { kind: "queue" } : { kind: "endpoint", endpoint: best };
  }
  pinMoved(why: PinMove): void {
    this.moves.push(why);
  }
}

const request = makeRequest();

const moveTable: ReadonlyArray<{
  name: string;
  /** Makes endpoint 0 (where the connection is pinned) unpickable, or not. */
  change: (c: FakeCluster, pinnedKey: string) => void;
  /** Where the connection is then, and the moves counted. */
  expected: { endpoint: number; moves: PinMove[] };
}> = [
  { name: "nothing changed: it stays", change: () => undefined, expected: { endpoint: 0, moves: [] } },
  { name: "its endpoint left the cluster", change: (c, k) => c.members.delete(k), expected: { endpoint: 1, moves: ["left"] } },
  { name: "its endpoint was ejected", change: (c, k) => c.excluded.add(k), expected: { endpoint: 1, moves: ["excluded"] } },
  {
    name: "its endpoint was ejected, but the cluster is in panic: it stays",
    change: (c, k) => {
      c.excluded.add(k);
      c.panic = true;
    },
    expected: { endpoint: 0, moves: [] },
  },
  { name: "its endpoint cannot be reached (TRANSIENT_FAILURE)", change: (c, k) => c.unreachable.add(k), expected: { endpoint: 1, moves: ["unreachable"] } },
  {
    name: "no endpoint can be reached: it stays (nothing better to move to)",
    change: (c) => {
      for (const k of c.members) c.unreachable.add(k);
    },
    expected: { endpoint: 0, moves: [] },
  },
];

for (const row of moveTable) {
  test(`a pinned connection, ${row.name}`, () => {
    const endpoints = makeEndpoints([1, 1]);
    const c = new FakeCluster(endpoints);
    const pins = new ConnectionPins();
    const pin = pins.pinFor(7, c, request);
    assert.equal(pin.endpoint(), endpoints[0]);
    row.change(c, endpoints[0]!.key);
    assert.equal(pin.endpoint(), endpoints[row.expected.endpoint]);
    assert.deepEqual(c.moves, row.expected.moves);
    // LEAST_CONN's count follows the connection.
    assert.deepEqual(
      endpoints.map((e) => e.load.activeConnections),
      endpoints.map((_, i) => (i === row.expected.endpoint ? 1 : 0)),
    );
    // The next RPC on the connection finds it where it moved.
    assert.equal(pins.endpointFor(7, c, request), endpoints[row.expected.endpoint]);
    assert.equal(c.moves.length, row.expected.moves.length);
  });
}

test("a draining connection's pin moves without loading its new endpoint; a closed connection's RPCs get no pin", () => {
  const endpoints = makeEndpoints([1, 1]);
  const c = new FakeCluster(endpoints);
  const pins = new ConnectionPins();
  const pin = pins.pinFor(1, c, request);
  assert.equal(pin.endpoint(), endpoints[0]);
  pins.unpin(1); // GOAWAY sent: its RPCs in flight finish
  c.unreachable.add(endpoints[0]!.key);
  assert.equal(pin.endpoint(), endpoints[1]);
  assert.deepEqual(c.moves, ["unreachable"]);
  assert.deepEqual(
    endpoints.map((e) => e.load.activeConnections),
    [0, 0],
  );
  pins.closed(1);
  assert.equal(pin.endpoint(), undefined, "the attempt is balanced on its own");
  assert.deepEqual(
    endpoints.map((e) => e.load.activeConnections),
    [0, 0],
  );
});
