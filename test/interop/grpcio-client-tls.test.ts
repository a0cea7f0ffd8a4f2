// grpcio (Python, gRPC C-core) clients over TLS and mutual TLS -> sluice -> grpc-js echo pods
// serving TLS (ServerCredentials.createSsl), on both transports, configured by YAML as a user
// would: the Proxy's spec.tls and the DestinationRule's tls. C-core's TLS stack (BoringSSL, its
// own ALPN and SNI handling) is not node's, so this checks what grpc-js clients cannot: that a
// second gRPC implementation sees through sluice exactly what it sees straight from the pod.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { TestPki, type Issued } from "../support/certs.js";
import { destinationRuleYaml, listenerYaml, serviceEntryYaml, startProxy, type Pod, type RunningProxy } from "../support/cluster.js";
import { defer, Teardown } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";
import { metadataMap, runPythonClient, type CallOutcome, type PlannedCall, type PythonClientTls } from "./support/python.js";
import { pythonWithGrpc } from "./support/tools.js";
import { podIdle, within } from "./support/wait.js";

const CANCELLED = 1;
const DEADLINE_EXCEEDED = 4;

/** The name the clients check in the servers' certificates (and send as SNI and :authority). */
const HOST = "echo";

/** node:http2 adds `date` to the pod's headers; the two runs may straddle a second. */
function withoutDate(o: CallOutcome): CallOutcome {
  const keep = (m: CallOutcome["headers"]): CallOutcome["headers"] => m && m.filter(([k]) => k !== "date");
  return { ...o, headers: keep(o.headers), trailers: keep(o.trailers) };
}

/** grpc-js echo pods serving TLS with `cert`; with `clientCa`, they require client certificates it issued. */
async function tlsPods(n: number, cert: Issued, clientCa: Buffer | null): Promise<Pod[]> {
  const pods: Pod[] = [];
  for (let i = 0; i < n; i++) {
    const credentials = grpc.ServerCredentials.createSsl(clientCa, [{ cert_chain: cert.cert, private_key: cert.key }], clientCa !== null);
    pods.push(await startEchoServer(`pod-${i + 1}`, "127.0.0.1", 0, {}, undefined, credentials));
  }
  return pods;
}

interface Mode {
  readonly name: string;
  /** Clients present a certificate to sluice, and sluice presents one to the pods. */
  readonly mutual: boolean;
}

const MODES: readonly Mode[] = [
  { name: "TLS", mutual: false },
  { name: "mutual TLS", mutual: true },
];

/** The Proxy (spec.tls), ServiceEntry and DestinationRule (tls, ROUND_ROBIN) for `ports`, as YAML. */
function configYaml(pki: TestPki, mode: Mode, transport: (typeof TEST_TRANSPORTS)[number], ports: readonly number[]): string {
  const proxyCert = pki.issue("sluice", { sans: [HOST, "localhost", "IP:127.0.0.1"] });
  const listenerTls = [
    "  tls:",
    `    serverCertificate: ${proxyCert.certPath}`,
    `    privateKey: ${proxyCert.keyPath}`,
    ...(mode.mutual ? [`    caCertificates: ${pki.ca.certPath}`] : []),
  ];
  const upstreamTls = [
    "    loadBalancer: { simple: ROUND_ROBIN }",
    "    tls:",
    `      mode: ${mode.mutual ? "MUTUAL" : "SIMPLE"}`,
    `      caCertificates: ${pki.ca.certPath}`,
  ];
  if (mode.mutual) {
    const sluiceClient = pki.issue("sluice-client");
    upstreamTls.push(`      clientCertificate: ${sluiceClient.certPath}`, `      privateKey: ${sluiceClient.keyPath}`);
  }
  return [listenerYaml(`${listenerTls.join("\n")}\n`, transport), serviceEntryYaml(HOST, ports), destinationRuleYaml(HOST, `${upstreamTls.join("\n")}\n`)].join(
    "\n---\n",
  );
}

/** The grpcio client's TLS: trusts the test CA, checks the name `echo`, with a client certificate in mutual mode. */
function clientTls(pki: TestPki, mode: Mode): PythonClientTls {
  if (!mode.mutual) return { root: pki.ca.certPath, override: HOST };
  const c = pki.issue("python-client");
  return { root: pki.ca.certPath, cert: c.certPath, key: c.keyPath, override: HOST };
}

for (const transport of TEST_TRANSPORTS) {
  for (const mode of MODES) {
    // No time budget for the whole suite: each Python client run has its own limit (runPythonClient).
    describe(`grpcio client over ${mode.name} -> sluice (${transport}) over ${mode.name} -> grpc-js`, () => {
      const suite = new Teardown();
      let pki: TestPki;
      let pod: Pod;
      let proxy: RunningProxy;
      let targets: string[];
      let tls: PythonClientTls;

      before(async () => {
        pythonWithGrpc();
        pki = TestPki.create(suite);
        [pod] = (await tlsPods(1, pki.issue("echo-pod", { sans: [HOST] }), mode.mutual ? pki.ca.cert : null)) as [Pod];
        defer(suite, () => pod.stop());
        proxy = await startProxy(configYaml(pki, mode, transport, [pod.port]));
        defer(suite, () => proxy.stop());
        targets = [`127.0.0.1:${pod.port}`, proxy.target];
        tls = clientTls(pki, mode);
      });

      after(() => suite.run());

      /** Runs `calls` direct and through the proxy; asserts both saw the same; returns the proxied outcomes. */
      async function sameBothWays(calls: PlannedCall[], whileOpen?: (o: CallOutcome[][]) => Promise<void>): Promise<CallOutcome[]> {
        const [direct, proxied] = (await runPythonClient(targets, calls, whileOpen, tls)) as [CallOutcome[], CallOutcome[]];
        calls.forEach((c, i) => assert.deepEqual(withoutDate(proxied[i]!), withoutDate(direct[i]!), `call ${i} (${c.method}) differs through the proxy`));
        return proxied;
      }

      test("all four call types with ASCII and -bin metadata in headers and trailers, over TLS handshakes the proxy counts", async () => {
        const handshakesBefore = proxy.proxy.tlsStats?.handshake ?? 0;
        const payload = randomBytes(64 * 1024);
        const bin = Buffer.from([0, 1, 2, 250, 255]);
        const parts = Array.from({ length: 10 }, (_, i) => randomBytes(100 + i));
        const [unary, server, client, bidi] = await sameBothWays([
          { method: "Unary", requests: [payload], metadata: { "x-echo-a": "alpha", "x-trace-bin": bin } },
          { method: "ServerStream", requests: [Buffer.from("s")], metadata: { "x-echo-count": "20", "x-echo-size": "1000" } },
          { method: "ClientStream", requests: parts, metadata: { "x-trace-bin": bin } },
          { method: "Bidi", requests: parts, metadata: { "x-echo-z": "z" } },
        ]);
        assert.equal(unary!.code, 0, unary!.details);
        assert.ok(Buffer.from(unary!.messages[0]!, "base64").equals(payload), "response bytes differ");
        assert.deepEqual(metadataMap(unary!.headers)["x-echo-a"], ["alpha"]);
        assert.deepEqual(metadataMap(unary!.headers)["x-pod"], ["pod-1"]);
        assert.deepEqual(metadataMap(unary!.headers)["x-trace-bin"], [bin]);
        assert.deepEqual(metadataMap(unary!.trailers)["x-echo-a"], ["alpha"]);
        assert.deepEqual(metadataMap(unary!.trailers)["x-trace-bin"], [bin]);
        assert.equal(server!.code, 0, server!.details);
        assert.deepEqual(
          server!.messages.map((m) => Buffer.from(m, "base64")),
          Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000, i)),
        );
        assert.equal(client!.code, 0, client!.details);
        assert.ok(Buffer.from(client!.messages[0]!, "base64").equals(Buffer.concat(parts)));
        assert.deepEqual(metadataMap(client!.trailers)["x-trace-bin"], [bin]);
        assert.equal(bidi!.code, 0, bidi!.details);
        assert.deepEqual(
          bidi!.messages.map((m) => Buffer.from(m, "base64")),
          parts,
        );
        assert.deepEqual(metadataMap(bidi!.headers)["x-echo-z"], ["z"]);
        // The grpcio channel really spoke TLS to sluice: one more completed handshake.
        assert.equal((proxy.proxy.tlsStats?.handshake ?? 0) - handshakesBefore, 1);
      });

      test("status codes with non-ASCII messages, with headers and trailers-only", async () => {
        const calls: PlannedCall[] = [];
        for (const code of [3, 5, 8, 13, 14, 16]) {
          for (const trailersOnly of [false, true]) {
            const metadata: Record<string, string | Buffer> = {
              "x-echo-status": String(code),
              "x-echo-message-bin": Buffer.from(`failure ${code}: naïve ✓`),
              "x-echo-count": "0",
            };
            if (trailersOnly) metadata["x-echo-trailers-only"] = "1";
            calls.push({ method: "Unary", requests: [Buffer.from("x")], metadata }, { method: "ServerStream", requests: [Buffer.from("x")], metadata });
          }
        }
        const outcomes = await sameBothWays(calls);
        outcomes.forEach((r, i) => {
          assert.equal(String(r.code), calls[i]!.metadata!["x-echo-status"], `call ${i}: ${r.details}`);
          assert.equal(r.details, `failure ${r.code}: naïve ✓`);
        });
      });

      test("deadline: a slow pod gives DEADLINE_EXCEEDED and sees its call end", async () => {
        // Not sameBothWays: the message depends on who notices first, grpcio's timer or the proxy.
        const outcomes = await runPythonClient(
          targets,
          [{ method: "Unary", requests: [Buffer.from("x")], metadata: { "x-echo-delay-ms": "10000" }, timeout: 0.3 }],
          () => within(5000, "pod still has the timed-out call", podIdle(pod.stats)),
          tls,
        );
        for (const [how, [r]] of [
          ["direct", outcomes[0]!],
          ["proxied", outcomes[1]!],
        ] as const) {
          assert.equal(r!.code, DEADLINE_EXCEEDED, `${how}: ${r!.details}`);
          assert.deepEqual(r!.messages, []);
        }
      });

      test("cancellation: the pod sees a cancelled bidi call end while the client's TLS connection stays open", async () => {
        const rpcsBefore = pod.stats.rpcs;
        const [r] = await sameBothWays([{ method: "Bidi", cancel: "after-headers", metadata: { "x-echo-c": "c" } }], async () => {
          assert.equal(pod.stats.rpcs - rpcsBefore, 2, "both calls reached the pod");
          await within(5000, "pod still has the cancelled call", podIdle(pod.stats));
        });
        assert.equal(r!.code, CANCELLED, r!.details);
        assert.deepEqual(metadataMap(r!.headers)["x-echo-c"], ["c"]);
      });

      test("balance: one grpcio TLS channel, 3 TLS pods, 300 RPCs: each pod serves 100 (ROUND_ROBIN per RPC)", async (t) => {
        const own = TestPki.create(t);
        const pods = await tlsPods(3, own.issue("echo-pod", { sans: [HOST] }), mode.mutual ? own.ca.cert : null);
        for (const p of pods) defer(t, () => p.stop());
        const balanced = await startProxy(
          configYaml(
            own,
            mode,
            transport,
            pods.map((p) => p.port),
          ),
        );
        defer(t, () => balanced.stop());
        const calls: PlannedCall[] = Array.from({ length: 300 }, () => ({ method: "Unary", requests: [Buffer.from("b")] }));
        const [outcomes] = (await runPythonClient([balanced.target], calls, undefined, clientTls(own, mode))) as [CallOutcome[]];
        // Exact by construction: the calls are sequential and ROUND_ROBIN's rotation runs over the
        // endpoints (an RPC for one still handshaking waits for it), so 300 picks are 100 each.
        const perPod = new Map<string, number>();
        for (const o of outcomes) {
          assert.equal(o.code, 0, o.details);
          const name = String(metadataMap(o.headers)["x-pod"]?.[0]);
          perPod.set(name, (perPod.get(name) ?? 0) + 1);
        }
        assert.deepEqual(
          Object.fromEntries([...perPod].sort()),
          { "pod-1": 100, "pod-2": 100, "pod-3": 100 },
          "the proxy balances each RPC of the one TLS connection",
        );
        assert.deepEqual(
          pods.map((p) => p.stats.rpcs),
          [100, 100, 100],
        );
        assert.equal(balanced.proxy.connectionsAccepted, 1, "the client held one connection");
      });
    });
  }
}
