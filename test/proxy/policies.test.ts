// DestinationRule and VirtualService features end to end through the proxy: subsets chosen
// by a VirtualService, consistent hashing on a header, PASSTHROUGH, portLevelSettings.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { callUnary } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { listenerYaml, md, serviceEntryYaml } from "../support/cluster.js";
import { proxyInFront, proxyWithPods } from "../support/proxy-with-pods.js";
import { defer } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

for (const transport of TEST_TRANSPORTS)
  describe(`transport ${transport}`, () => {
    test("a VirtualService routes by header to a subset; subsets select endpoints by label", async (t) => {
      // Pods 1 and 3 carry version v1, pods 2 and 4 version v2 (see serviceEntryYaml).
      const config = (ports: number[]): string[] => [
        listenerYaml("", transport),
        serviceEntryYaml("echo", ports),
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
      ];
      const h = await proxyWithPods(t, { pods: 4, config });
      const { pods } = h;
      const client = h.client;
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
    });

    test("consistentHash on a header: one key always reaches one pod, keys spread over pods", async (t) => {
      const config = (ports: number[]): string[] => [
        listenerYaml("", transport),
        serviceEntryYaml("echo", ports),
        `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy:
    loadBalancer:
      consistentHash: { httpHeaderName: x-user, maglev: { tableSize: 65537 } }`,
      ];
      const h = await proxyWithPods(t, { pods: 3, config });
      const client = h.client;
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
    });

    test("PASSTHROUGH sends each RPC to the address in :authority", async (t) => {
      const config = (ports: number[]): string[] => [
        listenerYaml("  defaultHost: echo", transport),
        serviceEntryYaml("echo", [ports[0]!]),
        `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy: { loadBalancer: { simple: PASSTHROUGH } }`,
      ];
      const h = await proxyWithPods(t, { pods: 2, config });
      const { pods } = h;
      for (const pod of pods) {
        const c = h.newClient({ "grpc.default_authority": `127.0.0.1:${pod.port}` });
        const r = await callUnary(c, Buffer.from("x"));
        c.close();
        assert.equal(r.code, 0, r.details);
        assert.equal(String(r.headers?.get("x-pod")[0]), pod.stats.name);
      }
    });

    test("portLevelSettings apply to their port only", async (t) => {
      // Port 50052 gets http2MaxRequests 1 through portLevelSettings; 50051 stays unlimited.
      const se = (port: number): string =>
        serviceEntryYaml("echo", [port]).replace(
          "    - { number: 50051, name: grpc, protocol: GRPC }",
          `    - { number: 50051, name: grpc, protocol: GRPC }\n    - { number: 50052, name: grpc-limited, protocol: GRPC, targetPort: ${port} }`,
        );
      const config = (ports: number[]): string[] => [
        listenerYaml("", transport),
        se(ports[0]!),
        `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy:
    portLevelSettings:
      - port: { number: 50052 }
        connectionPool: { http: { http2MaxRequests: 1 } }`,
      ];
      const h = await proxyWithPods(t, { pods: 1, config });
      assert.equal(h.proxy.cluster("echo|50051|")?.http2MaxRequests, Infinity);
      assert.equal(h.proxy.cluster("echo|50052|")?.http2MaxRequests, 1);
    });

    test("resolution DNS: endpoint names are resolved (localhost) and RPCs reach them", async (t) => {
      // Bound to [::] so the pod answers whichever loopback address localhost resolves to.
      const pod = await startEchoServer("dns-pod", "::", 0);
      defer(t, () => pod.stop());
      const h = await proxyInFront(t, [pod], {
        config: ([port]) => [
          listenerYaml("", transport),
          `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: dns }
spec:
  hosts: [dns-service]
  ports: [{ number: 50051, name: grpc, protocol: GRPC }]
  resolution: DNS
  endpoints: [{ address: localhost, ports: { grpc: ${port} } }]`,
        ],
      });
      const r = await callUnary(h.client, Buffer.from("x"));
      assert.equal(r.code, 0, r.details);
      assert.equal(String(r.headers?.get("x-pod")[0]), "dns-pod");
      const eps = h.cluster("dns-service|50051|").endpointList();
      assert.ok(eps.length >= 1 && eps.every((e) => e.address === "127.0.0.1" || e.address === "::1"), JSON.stringify(eps));
    });
  });
