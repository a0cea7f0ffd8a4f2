// TLS on both sides of the proxy, with certificates made by openssl at test time: grpc-js
// clients with TLS and mutual TLS to sluice, sluice with TLS (SIMPLE, MUTUAL) to grpc-js
// backends serving with ServerCredentials.createSsl, on both transports. Each way a handshake
// can fail gives the right status and reason, leaks nothing, and the proxy serves on.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate as X509 } from "node:crypto";
import { renameSync, writeFileSync } from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { DownstreamTlsSettings, ProxyConfig, UpstreamTlsSettings } from "../../src/config/types.js";
import { callUnary } from "../../src/demo/echo-client.js";
import { startEchoServer } from "../../src/demo/echo-service.js";
import { Proxy, type ProxyDeps } from "../../src/proxy/proxy.js";
import type { CertificateEvent } from "../../src/proxy/listener-certificates.js";
import { TestPki, simpleTls, workloadDirectory, type Issued } from "../support/certs.js";
import { listenerYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { defer, type Owner } from "../support/teardown.js";
import { TEST_TRANSPORTS } from "../support/transports.js";

/** The proxy's own certificate: the names clients reach it by. */
const PROXY_SANS = ["echo", "localhost", "IP:127.0.0.1"];

interface Setup {
  readonly transport: (typeof TEST_TRANSPORTS)[number];
  readonly upstream: Partial<UpstreamTlsSettings> | null;
  readonly downstream?: Partial<DownstreamTlsSettings> | null;
  /** The backend's certificate (default: one for "echo" from the test CA). */
  readonly backendCert?: Issued;
  /** The backend's client CA: it then requires client certificates. */
  readonly backendClientCa?: Buffer;
  readonly deps?: ProxyDeps;
  /** ISTIO_MUTUAL: the workload certificate directory, and the serviceAccount of the backend's ServiceEntry endpoint. */
  readonly workload?: { readonly directory: string; readonly serviceAccount?: string };
}

interface Running {
  readonly proxy: Proxy;
  readonly target: string;
  readonly port: number;
}

/** A grpc-js echo backend with TLS; stopped when `owner` ends. */
async function tlsBackend(owner: Owner, cert: Issued, clientCa?: Buffer): Promise<number> {
  const credentials = grpc.ServerCredentials.createSsl(clientCa ?? null, [{ cert_chain: cert.cert, private_key: cert.key }], clientCa !== undefined);
  const pod = await startEchoServer("pod-1", "127.0.0.1", 0, {}, undefined, credentials);
  defer(owner, () => pod.stop());
  return pod.port;
}

/** The proxy's config with the tls settings put in (what the Proxy resource and DestinationRule give). */
function withTls(
  config: ProxyConfig,
  upstream: UpstreamTlsSettings | null,
  downstream: DownstreamTlsSettings | null,
  workload: Setup["workload"],
): ProxyConfig {
  const sa = workload?.serviceAccount;
  const clusters = new Map(
    [...config.clusters].map(([name, c]) => [
      name,
      {
        ...c,
        policy: { ...c.policy, tls: upstream },
        endpoints: sa === undefined ? c.endpoints : c.endpoints.map((e) => ({ ...e, identity: { namespace: "default", serviceAccount: sa } })),
      },
    ]),
  );
  const workloadCertificates = workload === undefined ? config.listener.workloadCertificates : { directory: workload.directory, trustDomain: "cluster.local" };
  return { ...config, clusters, listener: { ...config.listener, tls: downstream, workloadCertificates } };
}

async function startTlsProxy(owner: Owner, pki: TestPki, s: Setup): Promise<Running> {
  const backendCert = s.backendCert ?? pki.issue("echo", { sans: ["echo"] });
  const port = await tlsBackend(owner, backendCert, s.backendClientCa);
  const upstream: UpstreamTlsSettings | null = s.upstream === null ? null : simpleTls({ caCertificates: pki.ca.certPath, ...s.upstream });
  const proxyCert = pki.issue("sluice", { sans: PROXY_SANS });
  const downstream: DownstreamTlsSettings | null =
    s.downstream === null
      ? null
      : { certificates: [{ certificateChain: proxyCert.certPath, privateKey: proxyCert.keyPath }], clientCa: null, minVersion: "TLSv1.2", ...s.downstream };
  const config = withTls(parseConfig([listenerYaml("", s.transport), serviceEntryYaml("echo", [port])].join("\n---\n")), upstream, downstream, s.workload);
  const proxy = new Proxy(config, s.deps);
  const addr = await proxy.start();
  defer(owner, () => proxy.stop(1000));
  return { proxy, target: `127.0.0.1:${addr.port}`, port: addr.port };
}

/** A grpc-js client of the proxy over TLS trusting the test CA (with a client certificate for mTLS). */
function tlsClient(owner: Owner, target: string, pki: TestPki, clientCert?: Issued): grpc.Client {
  const creds = grpc.credentials.createSsl(pki.ca.cert, clientCert?.key ?? null, clientCert?.cert ?? null);
  const client = new grpc.Client(target, creds, { "grpc.default_authority": "echo" });
  defer(owner, () => client.close());
  return client;
}

const hello = Buffer.from("hello");

for (const transport of TEST_TRANSPORTS) {
  describe(`transport ${transport}`, () => {
    test("TLS both ways: a grpc-js client over TLS, the proxy over TLS to a TLS backend", async (t) => {
      const pki = TestPki.create(t);
      const { target, proxy } = await startTlsProxy(t, pki, { transport, upstream: {} });
      const client = tlsClient(t, target, pki);
      for (let i = 0; i < 5; i++) {
        const r = await callUnary(client, hello);
        assert.equal(r.code, grpc.status.OK, r.details);
        assert.deepEqual(r.response, hello);
      }
      assert.equal(proxy.tlsStats?.handshake, 1, "one channel, one handshake");
      assert.equal(proxy.tlsStats?.noCertificate, 1);
    });

    test("mutual TLS downstream: a client certificate from the client CA is required; none, or one from another CA, fails the handshake (counted)", async (t) => {
      const pki = TestPki.create(t);
      const other = TestPki.create(t, "another CA");
      const { target, proxy } = await startTlsProxy(t, pki, { transport, upstream: {}, downstream: { clientCa: pki.ca.certPath } });
      const good = await callUnary(tlsClient(t, target, pki, pki.issue("client")), hello);
      assert.equal(good.code, grpc.status.OK, good.details);
      const none = await callUnary(tlsClient(t, target, pki), hello);
      assert.equal(none.code, grpc.status.UNAVAILABLE);
      const foreign = await callUnary(tlsClient(t, target, pki, other.issue("client")), hello);
      assert.equal(foreign.code, grpc.status.UNAVAILABLE);
      const stats = proxy.tlsStats!;
      assert.equal(stats.handshake, 1);
      assert.ok(stats.failVerifyNoCert >= 1, JSON.stringify(stats));
      assert.ok(stats.failVerifyError >= 1, JSON.stringify(stats));
      // The proxy serves on.
      assert.equal((await callUnary(tlsClient(t, target, pki, pki.issue("client-2")), hello)).code, grpc.status.OK);
    });

    test("MUTUAL upstream: the proxy presents its client certificate to a backend that requires one", async (t) => {
      const pki = TestPki.create(t);
      const clientCert = pki.issue("sluice-client");
      const { target } = await startTlsProxy(t, pki, {
        transport,
        upstream: { mode: "MUTUAL", clientCertificate: clientCert.certPath, privateKey: clientCert.keyPath },
        backendClientCa: pki.ca.cert,
      });
      const r = await callUnary(tlsClient(t, target, pki), hello);
      assert.equal(r.code, grpc.status.OK, r.details);
    });

    const failures: Array<[string, (pki: TestPki, owner: Owner) => Partial<Setup>, RegExp]> = [
      [
        "a backend certificate from an unknown CA",
        (_pki, owner) => ({ backendCert: TestPki.create(owner, "rogue CA").issue("echo") }),
        /upstream TLS error: certificate signed by an unknown CA/,
      ],
      [
        "a SAN mismatch",
        () => ({ upstream: { subjectAltNames: ["spiffe://cluster.local/ns/default/sa/echo"] } }),
        /upstream TLS error: certificate SAN mismatch: wanted spiffe:\/\/cluster\.local\/ns\/default\/sa\/echo, got echo/,
      ],
      [
        "a host name the certificate does not carry",
        (pki) => ({ backendCert: pki.issue("elsewhere") }),
        /upstream TLS error: certificate SAN mismatch: wanted echo, got elsewhere/,
      ],
      ["an expired backend certificate", (pki) => ({ backendCert: pki.issue("echo", { expired: true }) }), /upstream TLS error: certificate has expired/],
      [
        "a revoked backend certificate (caCrl)",
        (pki) => {
          const cert = pki.issue("echo");
          return { backendCert: cert, upstream: { caCrl: pki.revoke(cert) } };
        },
        /upstream TLS error: certificate revoked/,
      ],
      ["MUTUAL without the client certificate the backend requires", (pki) => ({ backendClientCa: pki.ca.cert }), /upstream TLS error: /],
    ];
    for (const [name, setup, reason] of failures) {
      test(`upstream: ${name}: UNAVAILABLE naming the reason, the endpoint in TRANSIENT_FAILURE with it`, async (t) => {
        const pki = TestPki.create(t);
        const { target, proxy } = await startTlsProxy(t, pki, { transport, upstream: {}, ...setup(pki, t) });
        const r = await callUnary(tlsClient(t, target, pki), hello, undefined, { deadline: Date.now() + 10_000 });
        assert.equal(r.code, grpc.status.UNAVAILABLE, r.details);
        assert.match(r.details, reason);
        const cluster = proxy.cluster("echo|50051|")!;
        const states = cluster.endpointList().map((e) => `${cluster.existingPool(e.key)?.state} ${cluster.existingPool(e.key)?.lastConnectFailure}`);
        assert.ok(
          states.some((st) => st.startsWith("TRANSIENT_FAILURE") && reason.test(st)),
          states.join("\n"),
        );
      });
    }

    for (const [name, serviceAccount, reason] of [
      ["the endpoint's serviceAccount is the backend's SPIFFE identity", "echo", undefined],
      [
        "another serviceAccount: SAN mismatch",
        "billing",
        /upstream TLS error: certificate SAN mismatch: wanted spiffe:\/\/cluster\.local\/ns\/default\/sa\/billing, got spiffe:\/\/cluster\.local\/ns\/default\/sa\/echo/,
      ],
      ["no serviceAccount: any identity of the trust domain", undefined, undefined],
    ] as const) {
      test(`ISTIO_MUTUAL: workload certificate from the directory (Istio's file names); ${name}`, async (t) => {
        const pki = TestPki.create(t);
        const dir = workloadDirectory(pki, pki.issue("sluice", { sans: ["URI:spiffe://cluster.local/ns/default/sa/sluice"] }));
        const backendCert = pki.issue("echo", { sans: ["URI:spiffe://cluster.local/ns/default/sa/echo"] });
        const { target } = await startTlsProxy(t, pki, {
          transport,
          upstream: { mode: "ISTIO_MUTUAL", caCertificates: null },
          backendCert,
          // The backend requires a client certificate from the mesh's root: the workload certificate.
          backendClientCa: pki.ca.cert,
          workload: serviceAccount === undefined ? { directory: dir } : { directory: dir, serviceAccount },
        });
        const r = await callUnary(tlsClient(t, target, pki), hello, undefined, { deadline: Date.now() + 10_000 });
        if (reason === undefined) assert.equal(r.code, grpc.status.OK, r.details);
        else {
          assert.equal(r.code, grpc.status.UNAVAILABLE);
          assert.match(r.details, reason);
        }
      });
    }

    test("several certificates: the one whose SAN matches the SNI is served, else the first", async (t) => {
      const pki = TestPki.create(t);
      const a = pki.issue("a", { sans: ["a.example", ...PROXY_SANS] });
      const b = pki.issue("b", { sans: ["b.example"] });
      const { target } = await startTlsProxy(t, pki, {
        transport,
        upstream: {},
        downstream: {
          certificates: [
            { certificateChain: a.certPath, privateKey: a.keyPath },
            { certificateChain: b.certPath, privateKey: b.keyPath },
          ],
        },
      });
      const serial = (c: Issued): string => new X509(c.cert).serialNumber;
      assert.equal((await peerCertificateSerial(target, "b.example")).serial, serial(b));
      assert.equal((await peerCertificateSerial(target, "a.example")).serial, serial(a));
      assert.equal((await peerCertificateSerial(target, "unknown.example")).serial, serial(a), "no match: the first");
    });

    test("ALPN h2 only and the minimum version: an http/1.1-only client gets the no_application_protocol alert, one without ALPN is closed, TLS 1.2 against a 1.3 minimum is refused, garbage is counted; the proxy serves on", async (t) => {
      const pki = TestPki.create(t);
      const { target, proxy, port } = await startTlsProxy(t, pki, { transport, upstream: {}, downstream: { minVersion: "TLSv1.3" } });
      assert.equal(await handshake(target, { ALPNProtocols: ["http/1.1"] }), "ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL");
      assert.equal(await handshake(target, {}), "secure, then closed");
      assert.equal(await handshake(target, { ALPNProtocols: ["h2"], maxVersion: "TLSv1.2" }), "ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION");
      // Bytes that are not TLS at all.
      const raw = net.connect(port, "127.0.0.1");
      raw.on("error", () => undefined);
      raw.end("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
      await new Promise((resolve) => raw.on("close", resolve));
      assert.equal(proxy.tlsStats!.connectionError, 3, JSON.stringify(proxy.tlsStats));
      assert.equal((await callUnary(tlsClient(t, target, pki), hello)).code, grpc.status.OK);
    });

    test("the listener's certificate is replaced on disk (write, then rename): new handshakes get the new one, open channels carry on", async (t) => {
      const pki = TestPki.create(t);
      const first = pki.issue("sluice", { sans: PROXY_SANS }, "first");
      const dir = pki.dir;
      const chain = join(dir, "live.pem");
      const key = join(dir, "live.key");
      writeFileSync(chain, first.cert);
      writeFileSync(key, first.key);
      const events: CertificateEvent[] = [];
      const waiters: Array<() => void> = [];
      const { target } = await startTlsProxy(t, pki, {
        transport,
        upstream: {},
        downstream: { certificates: [{ certificateChain: chain, privateKey: key }] },
        deps: {
          onCertificates: (e) => {
            events.push(e);
            for (const w of waiters.splice(0)) w();
          },
        },
      });
      const before = tlsClient(t, target, pki);
      assert.equal((await callUnary(before, hello)).code, grpc.status.OK);
      const served = (await peerCertificateSerial(target)).serial;
      // Rotate as cert-manager does: new files beside, renamed over the old (the key first, then the chain).
      const second = pki.issue("sluice", { sans: PROXY_SANS }, "second");
      writeFileSync(join(dir, "next.key"), second.key);
      writeFileSync(join(dir, "next.pem"), second.cert);
      renameSync(join(dir, "next.key"), key);
      renameSync(join(dir, "next.pem"), chain);
      while (!events.some((e) => e.ok)) await new Promise<void>((resolve) => waiters.push(resolve));
      const after = (await peerCertificateSerial(target)).serial;
      assert.notEqual(after, served, "a new handshake gets the new certificate");
      assert.equal(new X509(second.cert).serialNumber, after);
      // The channel opened before the rotation still works, on its old connection.
      assert.equal((await callUnary(before, hello)).code, grpc.status.OK);
    });
  });
}

/** The serial number of the certificate the proxy presents to a new TLS client. */
/** What a raw TLS client gets from the proxy: the handshake's error code, or "secure" then "closed" or "open". */
function handshake(target: string, options: tls.ConnectionOptions): Promise<string> {
  const [host, port] = [target.split(":")[0]!, Number(target.split(":")[1])];
  return new Promise((resolve) => {
    const socket = tls.connect({ host, port, rejectUnauthorized: false, servername: "echo", ...options });
    let secure = false;
    socket.on("secureConnect", () => (secure = true));
    socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.on("close", () => resolve(secure ? "secure, then closed" : "closed"));
  });
}

function peerCertificateSerial(target: string, servername = "echo"): Promise<{ serial: string }> {
  const [host, port] = [target.split(":")[0]!, Number(target.split(":")[1])];
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, ALPNProtocols: ["h2"], rejectUnauthorized: false, servername }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? "";
      socket.destroy();
      resolve({ serial });
    });
    socket.on("error", reject);
  });
}
