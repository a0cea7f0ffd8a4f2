// registerSluiceResolvers() puts sluice's resolver behind every dns target grpc-js sees:
// `dns:///name:port`, `dns://server/name:port`, and targets without a scheme.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { experimental } from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { registerSluiceResolvers } from "../../src/client/resolvers.js";
import { clientFor } from "../support/calls.js";
import type { Pod } from "../support/cluster.js";
import { startDnsmasq, type Dnsmasq } from "./support/dnsmasq.js";

/** The usual client-side balancing setup: a Kubernetes headless Service's name, round_robin in the service config. */
const SERVICE_NAME = "service.namespace.svc.cluster.local";
const ROUND_ROBIN_SERVICE_CONFIG = JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] });

let pod: Pod;
let dns: Dnsmasq;

before(async () => {
  registerSluiceResolvers();
  registerSluiceResolvers();
  pod = await startEchoServer("pod-1", "127.0.0.1", 0);
  dns = await startDnsmasq([["127.0.0.1", SERVICE_NAME]], 30);
});

after(async () => {
  await dns?.stop();
  await pod?.stop();
});

function resolverClassFor(target: string): string {
  const uri = /^([a-z]+):(?:\/\/([^/]*)\/)?(.+)$/.exec(target)!;
  const resolver = experimental.createResolver({ scheme: uri[1], authority: uri[2], path: uri[3]! }, () => true, {});
  resolver.destroy();
  return resolver.constructor.name;
}

test("dns targets, a Kubernetes Service name among them, get sluice's resolver", () => {
  assert.equal(resolverClassFor(`dns:///${SERVICE_NAME}:50051`), "SluiceDnsResolver");
  assert.equal(resolverClassFor("dns:///echo.default.svc:50051"), "SluiceDnsResolver");
  assert.equal(resolverClassFor("dns://10.0.0.10:53/echo:50051"), "SluiceDnsResolver");
  assert.equal(resolverClassFor("static:///10.0.0.1:1"), "StaticResolver");
});

test("a Kubernetes Service name with round_robin in the service config reaches a pod through a DNS server", async (t) => {
  const client = clientFor(t, `${dns.authority}${SERVICE_NAME}:${pod.port}`, { "grpc.service_config": ROUND_ROBIN_SERVICE_CONFIG });
  const r = await callUnary(client, Buffer.from("x"), undefined, { deadline: Date.now() + 5000 });
  assert.equal(r.code, 0, r.details);
  assert.deepEqual(r.headers?.get("x-pod"), ["pod-1"]);
});

test("without an authority, names the system resolver knows (/etc/hosts: localhost) resolve; schemeless targets too", async (t) => {
  for (const target of [`dns:///localhost:${pod.port}`, `localhost:${pod.port}`]) {
    const client = clientFor(t, target);
    const r = await callUnary(client, Buffer.from("x"), undefined, { deadline: Date.now() + 5000 });
    assert.equal(r.code, 0, `${target}: ${r.details}`);
  }
});

test("a name the DNS server does not know fails calls with UNAVAILABLE naming the target", async (t) => {
  const target = `${dns.authority}nowhere.test:1`;
  const client = clientFor(t, target);
  const r = await callUnary(client, Buffer.from("x"), undefined, { deadline: Date.now() + 10_000 });
  assert.equal(r.code, 14, r.details);
  assert.match(r.details, new RegExp(`DNS resolution failed for ${target.replace(/[./]/g, "\\$&")}: `));
});
