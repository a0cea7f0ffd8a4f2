// gRPC's official interop client in its TLS mode (--use_tls --use_test_ca
// --server_host_override, as the interop matrix runs it) through sluice to the official
// interop server with TLS: sluice terminates TLS with the interop test CA's server certificate
// and originates TLS to the server, checking it against that CA and the host's name. Both
// programs are the Ruby ones Debian's ruby-grpc ships (gRPC C-core underneath), with their
// test certificates; sluice is configured by YAML.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { deadPort, destinationRuleYaml, listenerYaml, serviceEntryYaml, startProxy, type RunningProxy } from "../support/cluster.js";
import { defer, Teardown } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { INTEROP_CASES, INTEROP_HOST_OVERRIDE, interopTestCerts, runInteropClient, startInteropServer } from "./support/ruby-interop.js";

/** A hang guard for the interop server's start, not a speed limit. */
const SERVER_READY_MS = 30_000;

/** Resolves once a TLS channel to the interop server on `port` is READY. */
async function serverReady(port: number, ca: Buffer): Promise<void> {
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createSsl(ca), {
    "grpc.ssl_target_name_override": INTEROP_HOST_OVERRIDE,
    "grpc.use_local_subchannel_pool": 1,
  });
  try {
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + SERVER_READY_MS, (err) => (err ? reject(err) : resolve())));
  } finally {
    client.close();
  }
}

for (const transport of TEST_TRANSPORTS) {
  describe(`official interop client (TLS, test CA) -> sluice (${transport}, TLS both ways) -> official interop server (TLS)`, () => {
    const suite = new Teardown();
    let proxy: RunningProxy;
    let port: number;

    before(async () => {
      const certs = interopTestCerts();
      const server = startInteropServer(await deadPort(), true);
      defer(suite, () => server.stop());
      await serverReady(server.port, readFileSync(certs.ca));
      // The host is the name the test certificate carries (*.test.google.fr): sluice's SNI and
      // its check of the server's certificate default to it.
      const yaml = [
        listenerYaml(`  tls:\n    serverCertificate: ${certs.cert}\n    privateKey: ${certs.key}\n`, transport),
        serviceEntryYaml(INTEROP_HOST_OVERRIDE, [server.port]),
        destinationRuleYaml(INTEROP_HOST_OVERRIDE, `    tls:\n      mode: SIMPLE\n      caCertificates: ${certs.ca}\n`),
      ].join("\n---\n");
      proxy = await startProxy(yaml);
      defer(suite, () => proxy.stop());
      port = Number(proxy.target.split(":")[1]);
    });

    after(() => suite.run());

    for (const testCase of INTEROP_CASES) {
      test(testCase, async () => {
        const handshakes = proxy.proxy.tlsStats?.handshake ?? 0;
        const { code, output } = await runInteropClient({ port, testCase, tls: true });
        assert.equal(code, 0, output);
        assert.match(output, new RegExp(`"OK: ${testCase}"`));
        // The client's channel was a TLS one, to sluice (cancel_after_begin cancels before any
        // connection is needed: C-core connects lazily).
        if (testCase !== "cancel_after_begin") assert.ok((proxy.proxy.tlsStats?.handshake ?? 0) > handshakes, "no TLS handshake with the proxy");
      });
    }
  });
}
