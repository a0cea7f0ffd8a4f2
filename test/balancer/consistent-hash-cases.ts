// The behaviour ring hash and maglev share, as one table of cases run against each.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { HashKeySource } from "../../src/config/types.js";
import { Status } from "../../src/core/status.js";
import type { LbEndpoint, PolicyDeps, PolicyFactory } from "../../src/balancer/types.js";
import { assertShares, makeDeps, makeEndpoints, makeRequest, normalize, pickKey, shares } from "./fixtures.js";

export type MakePolicy = (deps: PolicyDeps, key: HashKeySource) => PolicyFactory;

const KEY: HashKeySource = { kind: "header", name: "x-user" };
const KEYS = 30_000;
const userRequest = (i: number): ReturnType<typeof makeRequest> => makeRequest({ headers: { "x-user": `user-${i}` } });

export interface ConsistentHashExpectations {
  /** Share tolerance, relative to the expected share (0.05 = +-5%). */
  readonly relativeTolerance: number;
  /** Most keys (fraction) allowed to move when one of n endpoints is removed, beyond 1/n. */
  readonly extraMovement: number;
  /** Whether keys on surviving endpoints must all stay put (true for the ring). */
  readonly onlyRemovedKeysMove: boolean;
}

export function consistentHashCases(name: string, make: MakePolicy, expect: ConsistentHashExpectations): void {
  test(`${name} over zero endpoints fails with no healthy upstream`, () => {
    assert.deepEqual(make(makeDeps(1), KEY)([]).pick(userRequest(1)), {
      kind: "fail",
      status: Status.UNAVAILABLE,
      message: "no healthy upstream",
    });
  });

  test(`${name}: the same key always goes to the same endpoint, whatever the endpoint order`, () => {
    const endpoints = makeEndpoints([1, 1, 1, 1, 1]);
    const picker = make(makeDeps(1), KEY)(endpoints);
    const reordered = make(makeDeps(2), KEY)([...endpoints].reverse());
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const first = pickKey(picker, userRequest(i));
      assert.equal(pickKey(picker, userRequest(i)), first);
      assert.equal(pickKey(reordered, userRequest(i)), first);
      seen.add(first);
    }
    assert.equal(seen.size, 5); // and not everything on one endpoint
  });

  const spread: ReadonlyArray<{ weights: number[] }> = [
    { weights: [1, 1, 1, 1] },
    { weights: [1, 2, 3, 4] },
    { weights: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1] },
    { weights: [5, 1] },
  ];
  for (const { weights } of spread) {
    test(`${name}: keys spread by weight ${weights.join(":")} within ${expect.relativeTolerance * 100}%`, () => {
      const endpoints = makeEndpoints(weights);
      const picker = make(makeDeps(3), KEY)(endpoints);
      const actual = shares(picker, endpoints, KEYS, userRequest);
      const expected = normalize(weights);
      expected.forEach((want, i) => {
        const got = actual[i]!;
        assert.ok(
          Math.abs(got - want) <= want * expect.relativeTolerance,
          `endpoint ${i}: share ${got.toFixed(4)}, want ${want.toFixed(4)} (all ${actual.map((s) => s.toFixed(3)).join(", ")})`,
        );
      });
    });
  }

  test(`${name}: removing one of 5 endpoints moves only about 1/5 of the keys`, () => {
    const endpoints = makeEndpoints([1, 1, 1, 1, 1]);
    const removed = endpoints[2]!;
    const before = make(makeDeps(4), KEY)(endpoints);
    const after = make(makeDeps(4), KEY)(endpoints.filter((e) => e !== removed));
    let moved = 0;
    let onRemoved = 0;
    let survivorsMoved = 0;
    for (let i = 0; i < KEYS; i++) {
      const a = pickKey(before, userRequest(i));
      const b = pickKey(after, userRequest(i));
      if (a === removed.key) onRemoved++;
      if (a !== b) moved++;
      if (a !== b && a !== removed.key) survivorsMoved++;
    }
    const fraction = moved / KEYS;
    // Every key of the removed endpoint must move, and far fewer than the 4/5 that
    // hash-mod-n would move.
    assert.ok(moved - survivorsMoved === onRemoved);
    assert.ok(fraction <= 0.2 + expect.extraMovement, `moved ${fraction}`);
    assert.ok(fraction >= 0.15, `moved ${fraction}`);
    if (expect.onlyRemovedKeysMove) assert.equal(survivorsMoved, 0);
  });

  test(`${name}: adding an endpoint takes keys only for itself`, () => {
    const endpoints = makeEndpoints([1, 1, 1, 1, 1]);
    const before = make(makeDeps(5), KEY)(endpoints.slice(0, 4));
    const after = make(makeDeps(5), KEY)(endpoints);
    const added = endpoints[4]!.key;
    let moved = 0;
    let movedElsewhere = 0;
    for (let i = 0; i < KEYS; i++) {
      const a = pickKey(before, userRequest(i));
      const b = pickKey(after, userRequest(i));
      if (a !== b) moved++;
      if (a !== b && b !== added) movedElsewhere++;
    }
    assert.ok(moved / KEYS <= 0.2 + expect.extraMovement, `moved ${moved / KEYS}`);
    if (expect.onlyRemovedKeysMove) assert.equal(movedElsewhere, 0);
  });

  test(`${name}: a request without the key still gets an endpoint, spread by weight`, () => {
    const weights = [1, 3];
    const endpoints = makeEndpoints(weights);
    const picker = make(makeDeps(6), KEY)(endpoints);
    assertShares(shares(picker, endpoints, KEYS), normalize(weights), 0.05, "no key");
  });

  test(`${name}: hashes on the configured source (cookie, source ip, query parameter)`, () => {
    const endpoints: LbEndpoint[] = makeEndpoints([1, 1, 1, 1, 1, 1, 1, 1]);
    const sources: ReadonlyArray<{ key: HashKeySource; request: (v: string) => ReturnType<typeof makeRequest> }> = [
      { key: { kind: "cookie", name: "sid", path: "/", ttlMs: 0 }, request: (v) => makeRequest({ headers: { cookie: `a=b; sid=${v}` } }) },
      { key: { kind: "sourceIp" }, request: (v) => makeRequest({ sourceIp: v }) },
      { key: { kind: "queryParameter", name: "u" }, request: (v) => makeRequest({ path: `/s/M?u=${v}` }) },
    ];
    for (const { key, request } of sources) {
      const picker = make(makeDeps(7), key)(endpoints);
      const other = make(makeDeps(8), key)(endpoints);
      const distinct = new Set<string>();
      for (let i = 0; i < 200; i++) {
        const got = pickKey(picker, request(`v${i}`));
        // Deterministic in the key: a picker with another random source agrees.
        assert.equal(pickKey(other, request(`v${i}`)), got, `${key.kind} v${i}`);
        distinct.add(got);
      }
      assert.ok(distinct.size >= 6, `${key.kind}: only ${distinct.size} endpoints used`);
    }
  });
}
