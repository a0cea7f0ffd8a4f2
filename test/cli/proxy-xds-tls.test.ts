// TLS from a control plane, end to end: `sluice control-plane` (spawned, a config file) serves
// a DestinationRule's tls as the Cluster's UpstreamTlsContext; `sluice proxy --xds` (spawned)
// takes it and speaks TLS to grpc-js backends serving with ServerCredentials.createSsl
// (certificates from the test CA). A grpc-js client through the proxy gets its answers; a file
// edit that asks for another SAN reaches the proxy, and the RPC gets UNAVAILABLE naming the
// mismatch; MUTUAL presents the client certificate a backend requires. TLS the proxy cannot
// honour is NACKed: RPCs fail, and the backend (plaintext here) never sees one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { callUnary } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { clientFor } from "../support/calls.js";
import { TestPki, type Issued } from "../support/certs.js";
import { CLI, endWith, tempDir, tempFile } from "../support/cli.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml } from "../support/cluster.js";
import { exitsCleanly, Output, replaceFile, spawnSluice } from "../support/lines.js";
import { defer, type Owner } from "../support/teardown.js";

/** A grpc-js echo backend with TLS (a client certificate required when `clientCa` is given); stopped when `owner` ends. */
async function tlsBackend(owner: Owner, name: string, cert: Issued, clientCa?: Buffer): Promise<{ port: number; rpcs: () => number }> {
  const credentials = grpc.ServerCredentials.createSsl(clientCa ?? null, [{ cert_chain: cert.cert, private_key: cert.key }], clientCa !== undefined);
  const pod = await startEchoServer(name, "127.0.0.1", 0, {}, undefined, credentials);
  defer(owner, () => pod.stop());
  return { port: pod.port, rpcs: () => pod.stats.rpcs };
}

/** ServiceEntry `host` on `port`, with a DestinationRule whose tls holds `tls` (one field a line). */
function meshYaml(host: string, port: number, tls: readonly string[]): string {
  return `${serviceEntryYaml(host, [port])}\n---\n${destinationRuleYaml(host, `    tls:\n${tls.map((l) => `      ${l}\n`).join("")}`)}`;
}

/** `sluice control-plane -c file` on a free port; its ADS address. */
async function controlPlane(owner: Owner, file: string): Promise<{ address: string; out: Output }> {
  const child = spawn(process.execPath, [CLI, "control-plane", "-c", file, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  endWith(owner, child);
  const out = new Output(child.stdout);
  const m = await out.waitFor(/serving ADS on (127\.0\.0\.1:\d+)/);
  return { address: m[1] ?? "", out };
}

const hello = Buffer.from("hello");

test("SIMPLE from the control plane: the proxy reaches a TLS backend; a SAN the certificate lacks gives UNAVAILABLE naming it", async (t) => {
  const pki = TestPki.create(t);
  const backend = await tlsBackend(t, "pod-1", pki.issue("echo", { sans: ["echo"] }));
  const simple = ["mode: SIMPLE", `caCertificates: ${pki.ca.certPath}`];
  const file = tempFile("mesh.yaml", meshYaml("echo", backend.port, simple));
  const cp = await controlPlane(t, file);
  const proxy = await spawnSluice(["--xds", cp.address, "--listen", "127.0.0.1:0"]);
  exitsCleanly(t, proxy);
  await proxy.out.waitFor(/xds update #1 in force \(config [0-9a-f]{8}: 1 cluster, 1 virtual host\)/);
  const client = clientFor(t, `127.0.0.1:${proxy.port}`);
  for (let i = 0; i < 3; i++) {
    const r = await callUnary(client, hello);
    assert.equal(r.code, grpc.status.OK, r.details);
    assert.deepEqual(r.response, hello);
  }
  assert.equal(backend.rpcs(), 3);

  const mark = proxy.out.mark();
  replaceFile(file, meshYaml("echo", backend.port, [...simple, "subjectAltNames: [other.example]"]));
  await proxy.out.waitFor(/xds update #\d+ applied/, mark);
  const r = await callUnary(client, hello);
  assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
  assert.match(r.details, /upstream TLS error: certificate SAN mismatch: wanted other\.example, got echo/);
  assert.equal(backend.rpcs(), 3, "no RPC reached the backend without the check");
});

test("MUTUAL from the control plane: the proxy presents the client certificate a backend requires", async (t) => {
  const pki = TestPki.create(t);
  const backend = await tlsBackend(t, "pod-1", pki.issue("echo", { sans: ["echo"] }), pki.ca.cert);
  const client = pki.issue("sluice-client");
  const mutual = ["mode: MUTUAL", `caCertificates: ${pki.ca.certPath}`, `clientCertificate: ${client.certPath}`, `privateKey: ${client.keyPath}`];
  const cp = await controlPlane(t, tempFile("mesh.yaml", meshYaml("echo", backend.port, mutual)));
  const proxy = await spawnSluice(["--xds", cp.address, "--listen", "127.0.0.1:0"]);
  exitsCleanly(t, proxy);
  await proxy.out.waitFor(/xds update #1 in force/);
  const r = await callUnary(clientFor(t, `127.0.0.1:${proxy.port}`), hello);
  assert.equal(r.code, grpc.status.OK, r.details);
  assert.equal(backend.rpcs(), 1);
});

test("ISTIO_MUTUAL the proxy cannot check exactly (endpoints without a serviceAccount): the Cluster is NACKed, RPCs fail, nothing reaches the backend", async (t) => {
  const pki = TestPki.create(t);
  const workload = pki.issue("workload", { sans: ["URI:spiffe://cluster.local/ns/default/sa/client"] });
  const dir = tempDir(t, "sluice-workload-");
  copyFileSync(workload.certPath, join(dir, "cert-chain.pem"));
  copyFileSync(workload.keyPath, join(dir, "key.pem"));
  copyFileSync(pki.ca.certPath, join(dir, "root-cert.pem"));
  const pod = await startEchoServer("pod-1");
  defer(t, () => pod.stop());
  const mesh = `${listenerYaml(`  workloadCertificates: ${dir}\n`)}\n---\n${meshYaml("echo", pod.port, ["mode: ISTIO_MUTUAL"])}`;
  const cp = await controlPlane(t, tempFile("mesh.yaml", mesh));
  const proxy = await spawnSluice(["--xds", cp.address, "--listen", "127.0.0.1:0"]);
  exitsCleanly(t, proxy);
  await proxy.out.waitFor(
    /rejected Cluster version \d+ from the control plane: cluster "outbound\|50051\|\|echo": TLS cannot be honoured, so the cluster is refused rather than used in plaintext: .*prefix "spiffe:\/\/cluster\.local\/"/,
  );
  await proxy.out.waitFor(/xds update #1 in force/);
  const r = await callUnary(clientFor(t, `127.0.0.1:${proxy.port}`), hello);
  assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
  assert.equal(pod.stats.rpcs, 0);
});
