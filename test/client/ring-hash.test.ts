// ring_hash through grpc-js, keyed on a metadata header (gRFC A76 requestHashHeader).
import { test } from "node:test";
import assert from "node:assert/strict";
import { register } from "../../src/client/register.js";
import { balancedPods, callPod, ipv4Target, policyClient, untilAllServed } from "./support.js";

register();

test("ring_hash sends every call with the same header value to the same pod, and spreads different values", async (t) => {
  const { pods, client } = await balancedPods(t, 3, { ring_hash: { requestHashHeader: "x-user" } });
  await untilAllServed(client, pods); // keyless calls go to random pods
  const homes = new Map<string, string>();
  for (let u = 0; u < 30; u++) {
    const user = `user-${u}`;
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) seen.add(await callPod(client, { "x-user": user }));
    assert.equal(seen.size, 1, `${user} went to ${[...seen].join(", ")}`);
    homes.set(user, [...seen][0]!);
  }
  // 30 keys on a 3-pod ring: every pod owns some (each misses all 30 with p = (2/3)^30).
  assert.deepEqual(new Set(homes.values()), new Set(["pod-1", "pod-2", "pod-3"]));
  // Another client on the same pods builds the same ring: the same users, the same pods.
  const other = policyClient(t, ipv4Target(pods), { ring_hash: { requestHashHeader: "X-User", minRingSize: 1024 } });
  await untilAllServed(other, pods);
  for (const [user, pod] of homes) assert.equal(await callPod(other, { "x-user": user }), pod, user);
});

test("ring_hash sends calls without the header (or with an empty one) to random pods (A76)", async (t) => {
  const { client } = await balancedPods(t, 3, { ring_hash: { requestHashHeader: "x-user" } });
  const seen = new Set<string>();
  for (let i = 0; i < 30; i++) seen.add(await callPod(client, i % 2 === 0 ? {} : { "x-user": "" }));
  assert.ok(seen.size >= 2, `30 keyless calls all went to ${[...seen].join(", ")}`);
});

test("ring_hash moves the keys of a pod that stops and keeps most others; calls keep succeeding", async (t) => {
  const { pods, client } = await balancedPods(t, 3, { ring_hash: { requestHashHeader: "x-user" } });
  await untilAllServed(client, pods);
  const before = new Map<string, string>();
  for (let u = 0; u < 30; u++) before.set(`user-${u}`, await callPod(client, { "x-user": `user-${u}` }));
  await pods[0]!.stop();
  // The ring is rebuilt over the READY pods (as Envoy rebuilds it over healthy hosts), and
  // with fewer pods each owns more ring entries, so a few keys of the surviving pods move
  // too; most stay.
  let stayed = 0;
  let survivors = 0;
  for (const [user, pod] of before) {
    const now = await callPod(client, { "x-user": user });
    assert.notEqual(now, "pod-1", `${user} still went to the stopped pod`);
    if (pod === "pod-1") continue;
    survivors++;
    if (now === pod) stayed++;
  }
  assert.ok(stayed >= survivors * 0.6, `only ${stayed} of ${survivors} keys of the running pods stayed`);
});
