// DestinationRule and VirtualService features end to end through the proxy: subsets chosen
// by a VirtualService, consistent hashing on a header, PASSTHROUGH, portLevelSettings.
import { test } from "node:test";
import assert from "node:assert/strict";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { listenerYaml, md, serviceEntryYaml, startPods, startProxy } from "../support/cluster.js";

test("a VirtualService routes by header to a subset; subsets select endpoints by label", async () => {
  // Pods 1 and 3 carry version v1, pods 2 and 4 version v2 (see serviceEntryYaml).
  const pods = await startPods(4);
  const yaml = [
    listenerYaml(),
    serviceEntryYaml("echo", pods.map((p) => p.port)),
    `apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 }, trafficPolicy: { loadBalancer: { simple: ROUND_ROBIN } } }`,
    `apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata: { name: echo }
spec:
  hosts: [echo]
  http:
    - match: [{ headers: { x-canary: { exact: "yes" } } }]
      route: [{ destination: { host: echo, subset: v2 } }]
    - route: [{ destination: { host: echo, subset: v1 } }]`,
  ].join("\n---\n");
  const proxy = await startProxy(yaml);
  const client = echoClient(proxy.target, { "grpc.default_authority": "echo" });
  try {
    for (let i = 0; i < 40; i++) {
      const canary = i % 2 === 0;
      const r = await callUnary(client, Buffer.from("x"), canary ? md({ "x-canary": "yes" }) : undefined);
      assert.equal(r.code, 0, r.details);
      const pod = String(r.headers?.get("x-pod")[0]);
      assert.ok((canary ? ["pod-2", "pod-4"] : ["pod-1", "pod-3"]).includes(pod), `canary=${canary} went to ${pod}`);
    }
    // ROUND_ROBIN in subset v2 alternates exactly between its two pods.
    assert.equal(pods[1]!.stats.rpcs, 10);
    assert.equal(pods[3]!.stats.rpcs, 10);
  } finally {
    client.close();
    await proxy.stop();
    for (const p of pods) await p.stop();
  }
});

test("consistentHash on a header: one key always reaches one pod, keys spread over pods", async () => {
  const pods = await startPods(3);
  const yaml = [
    listenerYaml(),
    serviceEntryYaml("echo", pods.map((p) => p.port)),
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy:
    loadBalancer:
      consistentHash: { httpHeaderName: x-user, maglev: { tableSize: 65537 } }`,
  ].join("\n---\n");
  const proxy = await startProxy(yaml);
  const client = echoClient(proxy.target);
  try {
    const podOf = new Map<string, string>();
    for (let round = 0; round < 3; round++) {
      for (let user = 0; user < 30; user++) {
        const r = await callUnary(client, Buffer.from("x"), md({ "x-user": `user-${user}` }));
        assert.equal(r.code, 0, r.details);
        const pod = String(r.headers?.get("x-pod")[0]);
        const before = podOf.get(`user-${user}`);
        if (before !== undefined) assert.equal(pod, before, `user-${user} moved`);
        podOf.set(`user-${user}`, pod);
      }
    }
    assert.equal(new Set(podOf.values()).size, 3, "30 keys should land on all 3 pods");
  } finally {
    client.close();
    await proxy.stop();
    for (const p of pods) await p.stop();
  }
});

test("PASSTHROUGH sends each RPC to the address in :authority", async () => {
  const pods = await startPods(2);
  const yaml = [
    listenerYaml("  defaultHost: echo"),
    serviceEntryYaml("echo", [pods[0]!.port]),
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy: { loadBalancer: { simple: PASSTHROUGH } }`,
  ].join("\n---\n");
  const proxy = await startProxy(yaml);
  try {
    for (const pod of pods) {
      const c = echoClient(proxy.target, { "grpc.default_authority": `127.0.0.1:${pod.port}` });
      const r = await callUnary(c, Buffer.from("x"));
      c.close();
      assert.equal(r.code, 0, r.details);
      assert.equal(String(r.headers?.get("x-pod")[0]), pod.stats.name);
    }
  } finally {
    await proxy.stop();
    for (const p of pods) await p.stop();
  }
});

test("portLevelSettings apply to their port only", async () => {
  const pods = await startPods(1);
  // Port 50052 gets http2MaxRequests 1 through portLevelSettings; 50051 stays unlimited.
  const se = serviceEntryYaml("echo", [pods[0]!.port]).replace(
    "    - { number: 50051, name: grpc, protocol: GRPC }",
    "    - { number: 50051, name: grpc, protocol: GRPC }\n    - { number: 50052, name: grpc-limited, protocol: GRPC, targetPort: " + String(pods[0]!.port) + " }",
  );
  const yaml = [
    listenerYaml(),
    se,
    `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy:
    portLevelSettings:
      - port: { number: 50052 }
        connectionPool: { http: { http2MaxRequests: 1 } }`,
  ].join("\n---\n");
  const proxy = await startProxy(yaml);
  try {
    assert.equal(proxy.proxy.cluster("echo|50051|")?.http2MaxRequests, Infinity);
    assert.equal(proxy.proxy.cluster("echo|50052|")?.http2MaxRequests, 1);
  } finally {
    await proxy.stop();
    await pods[0]!.stop();
  }
});
