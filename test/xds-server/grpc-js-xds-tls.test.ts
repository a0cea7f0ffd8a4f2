// What a proxyless client does with a TLS cluster from sluice's control plane: grpc-js-xds
// honours only certificate provider instances (gRFC A29), not the file names sluice serves,
// so it NACKs the Cluster and its RPCs fail UNAVAILABLE. The backend here speaks plaintext:
// a client that ignored the transport_socket would reach it, so an RPC that arrives is the
// failure this test guards against. Runs in its own process: grpc-js-xds's bootstrap is global.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import * as xds from "@grpc/grpc-js-xds";
import { AdsServer } from "../../src/xds-server/ads-server.js";
import { TYPE_URL } from "../../src/xds-proto/protos.js";
import { callUnary, echoClient } from "../../src/demo/echo-client.js";
import { destinationRuleYaml, parseConfig, serviceEntryYaml, startPods } from "../support/cluster.js";

const [pod] = await startPods(1);
assert.ok(pod !== undefined);
const ads = new AdsServer(parseConfig(`${serviceEntryYaml("echo", [pod.port])}\n---\n${destinationRuleYaml("echo", "    tls: { mode: SIMPLE }")}`));
const adsPort = await ads.start("127.0.0.1", 0);
process.env["GRPC_XDS_BOOTSTRAP_CONFIG"] = JSON.stringify({
  xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: "insecure" }], server_features: ["xds_v3"] }],
  node: { id: "sluice-test", locality: {} },
});
xds.register();
const client = echoClient("xds:///echo");

after(async () => {
  client.close();
  await ads.stop();
  await pod.stop();
});

test("grpc-js-xds NACKs a TLS cluster it cannot honour; its RPCs fail UNAVAILABLE and none reaches the (plaintext) backend", async () => {
  const nacked = once(ads, "nack", { signal: AbortSignal.timeout(10_000) });
  const call = callUnary(client, Buffer.from("hi"));
  const [nack] = (await nacked) as [{ typeUrl: string; message: string }];
  assert.equal(nack.typeUrl, TYPE_URL.cluster);
  assert.match(nack.message, /tls_certificate_provider_instance|ca_certificate_provider_instance/);
  const r = await call;
  assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
  assert.match(r.details, /Cluster message validation failed: \[ValidationContext.ca_certificate_provider_instance unset\]/);
  for (let i = 0; i < 3; i++) assert.equal((await callUnary(client, Buffer.from("hi"))).code, grpc.status.UNAVAILABLE);
  assert.equal(pod.stats.rpcs, 0);
});
