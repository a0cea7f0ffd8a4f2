// `sluice control-plane` as operators run it: a separate process serving ADS; a config file
// edit is pushed to a subscribed client, a bad edit is rejected and the served config stays,
// SIGTERM exits 0.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { adsClientConstructor, lrsClientConstructor, TYPE_URL, unpackAny } from "../../src/xds-proto/protos.js";
import { CLI, endWith, runCli, tempFile } from "../support/cli.js";
import { serviceEntryYaml } from "../support/cluster.js";
import { Output, replaceFile } from "../support/lines.js";
import { RawStream, type Response } from "../support/ads.js";
import { defer } from "../support/teardown.js";

const CLUSTER = "outbound|50051||echo";

function endpointPorts(r: Response): number[] {
  const cla = unpackAny(r.resources[0] ?? assert.fail("no ClusterLoadAssignment")) as {
    endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[];
  };
  return (cla.endpoints[0]?.lb_endpoints ?? []).map((e) => e.endpoint.address.socket_address.port_value);
}

test("sluice control-plane serves ADS, pushes a file edit, rejects a bad one, and exits 0 on SIGTERM", async (t) => {
  const file = tempFile("xds.yaml", serviceEntryYaml("echo", [7001, 7002]));
  const child = spawn(process.execPath, [CLI, "control-plane", "-c", file, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  endWith(t, child);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const closed = once(child, "close");
  const Ctor = adsClientConstructor();
  const m = await out.waitFor(/serving ADS on 127\.0\.0\.1:(\d+) \(2 Listener, 1 RouteConfiguration, 1 Cluster, 1 ClusterLoadAssignment\)/);
  const client = new Ctor(`127.0.0.1:${m[1]}`, grpc.credentials.createInsecure());
  defer(t, () => client.close());
  const s = new RawStream(client);
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER] });
  const first = await s.next();
  assert.deepEqual(endpointPorts(first), [7001, 7002]);
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER], response_nonce: first.nonce, version_info: first.version_info });

  let mark = out.mark();
  replaceFile(file, serviceEntryYaml("echo", [7001, 7003]));
  const pushed = await s.next();
  assert.equal(pushed.version_info, "2");
  assert.deepEqual(endpointPorts(pushed), [7001, 7003]);
  await out.waitFor(/config reload #1 applied \(file change\): pushed ClusterLoadAssignment/, mark);

  mark = out.mark();
  replaceFile(file, "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: x }\nspec:\n  host: nowhere\n");
  await out.waitFor(/config reload \(file change\) rejected, keeping the running config/, mark);
  // Still served: a fresh subscription gets the last good endpoints.
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER], response_nonce: "" });
  assert.deepEqual(endpointPorts(await s.next()), [7001, 7003]);
  client.close();
  child.kill("SIGTERM");
  const [code] = (await closed) as [number];
  assert.equal(code, 0, err.text);
});

test("sluice control-plane with a bad --listen or an invalid config exits 1 and says why", async () => {
  const good = tempFile("xds.yaml", serviceEntryYaml("echo", [7001]));
  const r = await runCli(["control-plane", "-c", good, "--listen", "nowhere"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /--listen: must be host:port/);
  const bad = tempFile("bad.yaml", "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: x }\nspec:\n  host: nowhere\n");
  const b = await runCli(["control-plane", "-c", bad, "--listen", "127.0.0.1:0"]);
  assert.equal(b.code, 1);
  assert.match(b.stderr, /bad\.yaml:\d+ spec\.host/);
});

test("sluice control-plane --weights-from-load --load-report-interval 200ms: clusters ask for load reports, LRS answers at that interval", async (t) => {
  const file = tempFile("xds.yaml", serviceEntryYaml("echo", [7001, 7002]));
  const child = spawn(
    process.execPath,
    [CLI, "control-plane", "-c", file, "--listen", "127.0.0.1:0", "--weights-from-load", "--load-report-interval", "200ms"],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  endWith(t, child);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const closed = once(child, "close");
  const m = await out.waitFor(/serving ADS on 127\.0\.0\.1:(\d+) \(.*\); LRS: endpoint weights from load reports every 200ms/);
  const Ads = adsClientConstructor();
  const Lrs = lrsClientConstructor();
  const ads = new Ads(`127.0.0.1:${m[1]}`, grpc.credentials.createInsecure());
  const lrs = new Lrs(`127.0.0.1:${m[1]}`, grpc.credentials.createInsecure());
  defer(t, () => {
    ads.close();
    lrs.close();
  });
  const s = new RawStream(ads);
  s.send({ type_url: TYPE_URL.cluster, resource_names: [CLUSTER] });
  const cluster = unpackAny((await s.next()).resources[0] ?? assert.fail("no Cluster"));
  assert.deepEqual(cluster["lrs_server"], { self: {} });
  const call = (
    lrs as unknown as { StreamLoadStats(): grpc.ClientDuplexStream<unknown, { send_all_clusters: boolean; load_reporting_interval: unknown }> }
  ).StreamLoadStats();
  call.on("error", () => undefined);
  const answered = once(call, "data");
  call.write({ node: { id: "cli-test" } });
  const [answer] = (await answered) as [{ send_all_clusters: boolean; load_reporting_interval: unknown }];
  assert.equal(answer.send_all_clusters, true);
  assert.deepEqual(answer.load_reporting_interval, { seconds: "0", nanos: 200_000_000 });
  call.end();
  ads.close();
  lrs.close();
  child.kill("SIGTERM");
  const [code] = (await closed) as [number];
  assert.equal(code, 0, err.text);
});

test("sluice control-plane: --load-report-interval needs --weights-from-load and a duration", async () => {
  const file = tempFile("xds.yaml", serviceEntryYaml("echo", [7001]));
  const alone = await runCli(["control-plane", "-c", file, "--listen", "127.0.0.1:0", "--load-report-interval", "1s"]);
  assert.equal(alone.code, 1);
  assert.match(alone.stderr, /--load-report-interval only applies with --weights-from-load/);
  const bad = await runCli(["control-plane", "-c", file, "--listen", "127.0.0.1:0", "--weights-from-load", "--load-report-interval", "often"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--load-report-interval: must be a duration/);
});

test("sluice control-plane resolves a DNS ServiceEntry and serves addresses, never the name", async (t) => {
  const yaml = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: echo }
spec:
  hosts: [echo]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{ number: 50051, name: grpc, protocol: GRPC }]
  endpoints: [{ address: localhost, ports: { grpc: 7001 } }]
`;
  const file = tempFile("xds.yaml", yaml);
  const child = spawn(process.execPath, [CLI, "control-plane", "-c", file, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  endWith(t, child);
  const out = new Output(child.stdout);
  const err = new Output(child.stderr);
  const closed = once(child, "close");
  const m = await out.waitFor(/serving ADS on 127\.0\.0\.1:(\d+)/);
  const client = new (adsClientConstructor())(`127.0.0.1:${m[1]}`, grpc.credentials.createInsecure());
  defer(t, () => client.close());
  const s = new RawStream(client);
  s.send({ type_url: TYPE_URL.endpoint, resource_names: [CLUSTER] });
  const cla = unpackAny((await s.next()).resources[0] ?? assert.fail("no ClusterLoadAssignment")) as {
    endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[];
  };
  const addresses = cla.endpoints.flatMap((l) => l.lb_endpoints.map((e) => e.endpoint.address.socket_address));
  assert.ok(addresses.length > 0, "localhost resolved to at least one address");
  assert.ok(
    addresses.some((a) => a.address === "127.0.0.1" && a.port_value === 7001),
    JSON.stringify(addresses),
  );
  assert.ok(
    addresses.every((a) => a.address !== "localhost"),
    "the name itself is never served",
  );
  client.close();
  child.kill("SIGTERM");
  const [code] = (await closed) as [number];
  assert.equal(code, 0, err.text);
});
