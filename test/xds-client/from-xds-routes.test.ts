// configFromXds() on routes a file could not write: a route or weighted cluster naming a
// cluster sluice does not have keeps its requests (UNAVAILABLE) rather than passing them on,
// and a virtual host with no usable route leaves its domains to the others.
import { test } from "node:test";
import assert from "node:assert/strict";
import { configFromXds } from "../../src/xds-client/from-xds.js";
import { route, staticCluster, xdsResources } from "./decoded-messages.js";

test("a route to a missing cluster keeps its requests (UNAVAILABLE) instead of falling through to the next route", () => {
  const back = configFromXds(
    xdsResources([staticCluster("a")], [{ name: "v", domains: ["svc"], routes: [route("/pkg.Only/", { cluster: "gone" }), route("", { cluster: "a" })] }]),
  );
  assert.deepEqual(
    back.virtualHosts[0]?.routes.map((r) => r.destinations),
    [[{ cluster: "xds-unavailable|0|", weight: 100 }], [{ cluster: "a|0|", weight: 100 }]],
  );
  assert.deepEqual(back.clusters.get("xds-unavailable|0|")?.endpoints, []);
  assert.ok(
    back.problems.some((p) => /route 0: cluster "gone" is not available; its requests get UNAVAILABLE/.test(p)),
    back.problems.join("\n"),
  );
});

test("a weighted cluster that is missing or unusable keeps its share (UNAVAILABLE); the placeholder never takes a real cluster's name", () => {
  const back = configFromXds(
    xdsResources(
      [staticCluster("a"), ["odd", { name: "odd", type: "ORIGINAL_DST" }], staticCluster("xds-unavailable")],
      [
        {
          name: "v",
          domains: ["svc"],
          routes: [
            route("", {
              weighted_clusters: {
                clusters: [
                  { name: "a", weight: { value: 50 } },
                  { name: "gone", weight: { value: 30 } },
                  { name: "odd", weight: { value: 20 } },
                ],
              },
            }),
          ],
        },
      ],
    ),
  );
  assert.deepEqual(back.virtualHosts[0]?.routes[0]?.destinations, [
    { cluster: "a|0|", weight: 50 },
    { cluster: "xds-unavailable-2|0|", weight: 50 },
  ]);
  assert.equal(back.clusters.get("xds-unavailable|0|")?.endpoints.length, 1, "the control plane's own cluster of that name is untouched");
  assert.deepEqual(back.clusters.get("xds-unavailable-2|0|")?.endpoints, []);
  assert.ok(
    back.problems.some((p) => /cluster "gone" is not available; its share \(30 of 100\) get UNAVAILABLE/.test(p)),
    back.problems.join("\n"),
  );
});

test("a bare-domain virtual host with no usable route does not shadow another's routes for that host", () => {
  const back = configFromXds(
    xdsResources(
      [staticCluster("a")],
      [
        { name: "broken", domains: ["echo"], routes: [{ match: { prefix: "" }, direct_response: { status: 503 } }] },
        { name: "echo:80", domains: ["echo:80"], routes: [route("", { cluster: "a" })] },
      ],
    ),
  );
  assert.deepEqual(back.virtualHosts, [
    {
      domains: ["echo"],
      routes: [{ matches: [], destinations: [{ cluster: "a|0|", weight: 100 }], timeoutMs: null, retry: back.virtualHosts[0]!.routes[0]!.retry }],
    },
  ]);
  assert.ok(
    back.problems.some((p) => /virtual host broken: has no route sluice can use; its domains \(echo\) are left to other virtual hosts/.test(p)),
    back.problems.join("\n"),
  );
});
