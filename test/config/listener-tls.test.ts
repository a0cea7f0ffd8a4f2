// TLS on the listener: the Proxy resource's spec.tls (Istio Gateway's field names), the
// --tls-cert / --tls-key / --tls-client-ca overrides, and the workload certificate directory
// and trust domain ISTIO_MUTUAL clusters use, checked when some cluster uses it.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync } from "node:fs";
import { join, relative } from "node:path";
import { formatProblem } from "../../src/config/diagnostics.js";
import type { ConfigOverrides } from "../../src/config/load.js";
import type { DownstreamTlsSettings } from "../../src/config/types.js";
import { TestPki } from "../support/certs.js";
import { tempDir } from "../support/cli.js";
import { Teardown } from "../support/teardown.js";
import { destinationRule, docs, load, mustLoad, problems, SERVICE_ENTRY } from "./helpers.js";

const td = new Teardown();
after(() => td.run());
const pki = TestPki.create(td, "listener test CA", 365);
const ca = pki.ca.certPath;
const server = pki.issue("api.example.com", { days: 365 });
const second = pki.issue("admin.example.com", { days: 365 });

/** A Proxy resource with spec.tls `fields` (one per line, from line 6). */
function proxyTls(...fields: string[]): string {
  return `apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: {name: p}\nspec:\n  tls:\n${fields.map((f) => `    ${f}\n`).join("")}`;
}

function listenerTls(text: string, overrides: ConfigOverrides = {}): DownstreamTlsSettings | null {
  return mustLoad(text, overrides).listener.tls;
}

const one = { certificateChain: server.certPath, privateKey: server.keyPath };
const two = { certificateChain: second.certPath, privateKey: second.keyPath };

describe("spec.tls to the listener's settings", () => {
  const cases: { name: string; text: string; want: DownstreamTlsSettings | null }[] = [
    { name: "no spec.tls: plaintext", text: "apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: {name: p}\nspec: {}\n", want: null },
    {
      name: "one certificate, TLS 1.2 at least",
      text: proxyTls(`serverCertificate: ${server.certPath}`, `privateKey: ${server.keyPath}`),
      want: { certificates: [one], clientCa: null, minVersion: "TLSv1.2" },
    },
    {
      name: "several certificates, in order; a client CA; TLS 1.3",
      text: proxyTls(
        "tlsCertificates:",
        `- {serverCertificate: ${server.certPath}, privateKey: ${server.keyPath}}`,
        `- {serverCertificate: ${second.certPath}, privateKey: ${second.keyPath}}`,
        `caCertificates: ${ca}`,
        "minProtocolVersion: TLSV1_3",
      ),
      want: { certificates: [one, two], clientCa: ca, minVersion: "TLSv1.3" },
    },
    {
      name: "TLS_AUTO is 1.2",
      text: proxyTls(`serverCertificate: ${server.certPath}`, `privateKey: ${server.keyPath}`, "minProtocolVersion: TLS_AUTO"),
      want: { certificates: [one], clientCa: null, minVersion: "TLSv1.2" },
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(listenerTls(c.text), c.want));
});

describe("spec.tls problems", () => {
  const cases: { fields: string[]; want: string[] }[] = [
    {
      fields: [`serverCertificate: ${server.certPath}`],
      want: ["test.yaml:5 spec.tls: privateKey is required with serverCertificate: the key of that certificate"],
    },
    {
      fields: [`privateKey: ${server.keyPath}`],
      want: ["test.yaml:5 spec.tls: serverCertificate is required with privateKey: the certificate chain (PEM) the key belongs to"],
    },
    { fields: [`caCertificates: ${ca}`], want: ["test.yaml:5 spec.tls: a certificate is required: serverCertificate and privateKey, or tlsCertificates"] },
    {
      fields: [
        `serverCertificate: ${server.certPath}`,
        `privateKey: ${server.keyPath}`,
        `tlsCertificates: [{serverCertificate: ${second.certPath}, privateKey: ${second.keyPath}}]`,
      ],
      want: [
        "test.yaml:8 spec.tls.tlsCertificates: set serverCertificate and privateKey (one certificate) or tlsCertificates (several, chosen by SNI), not both",
      ],
    },
    { fields: ["tlsCertificates: []"], want: ["test.yaml:6 spec.tls.tlsCertificates: must list at least one certificate ({serverCertificate, privateKey})"] },
    { fields: ["tlsCertificates: [{}]"], want: ["test.yaml:6 spec.tls.tlsCertificates[0]: serverCertificate and privateKey are required"] },
    {
      fields: [`serverCertificate: ${server.certPath}`, `privateKey: ${server.keyPath}`, "minProtocolVersion: TLSV1_1"],
      want: ["test.yaml:8 spec.tls.minProtocolVersion: sluice's minimum is TLSV1_2: TLS 1.0 and 1.1 are deprecated (RFC 8996)"],
    },
    {
      fields: [`serverCertificate: ${server.certPath}`, `privateKey: ${second.keyPath}`],
      want: [
        `test.yaml:7 spec.tls.privateKey: ${second.keyPath}: this private key is not the key of the certificate "CN=api.example.com" in ${server.certPath}`,
      ],
    },
    {
      fields: [`serverCertificate: ${server.certPath}`, `privateKey: ${server.keyPath}`, `caCertificates: ${server.certPath}`],
      want: [
        `test.yaml:8 spec.tls.caCertificates: ${server.certPath}: certificate 1 ("CN=api.example.com") is not a CA certificate (no basicConstraints CA:TRUE): give the certificates of the CAs that issue the peer's certificate`,
      ],
    },
    {
      fields: [`serverCertificate: ${server.certPath}`, `privateKey: ${server.keyPath}`, "credentialName: api"],
      want: [
        "test.yaml:8 spec.tls.credentialName: unknown field (known fields: serverCertificate, privateKey, tlsCertificates, caCertificates, minProtocolVersion)",
      ],
    },
  ];
  for (const c of cases) test(c.fields.join(", "), () => assert.deepEqual(problems(proxyTls(...c.fields)), c.want));
});

describe("--tls-cert, --tls-key and --tls-client-ca override spec.tls", () => {
  const withSpec = proxyTls(
    "tlsCertificates:",
    `- {serverCertificate: ${second.certPath}, privateKey: ${second.keyPath}}`,
    `caCertificates: ${ca}`,
    "minProtocolVersion: TLSV1_3",
  );
  const noSpec = "apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: {name: p}\nspec: {}\n";

  test("the certificate pair replaces spec.tls's certificates; the client CA and minimum version stay", () => {
    assert.deepEqual(listenerTls(withSpec, { tlsCert: server.certPath, tlsKey: server.keyPath }), {
      certificates: [one],
      clientCa: ca,
      minVersion: "TLSv1.3",
    });
  });

  test("flags alone turn TLS on; relative paths are read from the working directory", () => {
    const rel = (p: string): string => relative(process.cwd(), p);
    assert.deepEqual(listenerTls(noSpec, { tlsCert: rel(server.certPath), tlsKey: rel(server.keyPath), tlsClientCa: rel(ca) }), {
      certificates: [one],
      clientCa: ca,
      minVersion: "TLSv1.2",
    });
  });

  test("--tls-client-ca alone replaces spec.tls's client CA", () => {
    const ca2 = tempDir(td, "sluice-ca2-");
    copyFileSync(ca, join(ca2, "ca.pem"));
    assert.deepEqual(listenerTls(withSpec, { tlsClientCa: join(ca2, "ca.pem") })?.clientCa, join(ca2, "ca.pem"));
  });

  const cases: { name: string; text: string; overrides: ConfigOverrides; want: string[] }[] = [
    {
      name: "--tls-cert without --tls-key",
      text: noSpec,
      overrides: { tlsCert: server.certPath },
      want: ["(command line) --tls-cert: needs --tls-key: the certificate's private key"],
    },
    {
      name: "--tls-key without --tls-cert",
      text: withSpec,
      overrides: { tlsKey: server.keyPath },
      want: ["(command line) --tls-key: needs --tls-cert: the certificate chain the key belongs to"],
    },
    {
      name: "--tls-client-ca without a certificate",
      text: noSpec,
      overrides: { tlsClientCa: ca },
      want: ["(command line) --tls-client-ca: needs a certificate to serve TLS with: --tls-cert and --tls-key, or the Proxy resource's spec.tls"],
    },
    {
      name: "a missing file",
      text: noSpec,
      overrides: { tlsCert: "/nonexistent/cert.pem", tlsKey: server.keyPath },
      want: ["(command line) --tls-cert: cannot read /nonexistent/cert.pem: no such file"],
    },
    {
      name: "a key that is not the certificate's",
      text: noSpec,
      overrides: { tlsCert: server.certPath, tlsKey: second.keyPath },
      want: [`(command line) --tls-key: ${second.keyPath}: this private key is not the key of the certificate "CN=api.example.com" in ${server.certPath}`],
    },
  ];
  for (const c of cases) test(c.name, () => assert.deepEqual(problems(c.text, c.overrides), c.want));
});

describe("workload certificates (ISTIO_MUTUAL)", () => {
  const istioMutual = docs(SERVICE_ENTRY, destinationRule("  host: grpc-service\n  trafficPolicy:\n    tls: {mode: ISTIO_MUTUAL}\n"));
  const proxy = (spec: string): string => `apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: {name: p}\nspec:\n${spec}`;
  const workloadDir = (files: { chain?: string; key?: string; root?: string }): string => {
    const dir = tempDir(td, "sluice-workload-");
    copyFileSync(files.chain ?? server.certPath, join(dir, "cert-chain.pem"));
    copyFileSync(files.key ?? server.keyPath, join(dir, "key.pem"));
    copyFileSync(files.root ?? ca, join(dir, "root-cert.pem"));
    return dir;
  };

  test("defaults: /etc/certs, cluster.local", () => {
    assert.deepEqual(mustLoad(proxy("  listen: 127.0.0.1:0\n")).listener.workloadCertificates, { directory: "/etc/certs", trustDomain: "cluster.local" });
  });

  test("set in the Proxy resource; checked when a cluster uses ISTIO_MUTUAL", () => {
    const dir = workloadDir({});
    const config = mustLoad(docs(istioMutual, proxy(`  workloadCertificates: ${dir}\n  trustDomain: example.org\n`)));
    assert.deepEqual(config.listener.workloadCertificates, { directory: dir, trustDomain: "example.org" });
    assert.equal(config.clusters.get("grpc-service|50051|")?.policy.tls?.mode, "ISTIO_MUTUAL");
  });

  test("a directory without Istio's files: an error at spec.workloadCertificates naming the directory and the files", () => {
    const empty = tempDir(td, "sluice-empty-");
    assert.deepEqual(problems(docs(istioMutual, proxy(`  workloadCertificates: ${empty}\n`))), [
      `test.yaml:25 spec.workloadCertificates: ${empty}: cannot read cert-chain.pem, key.pem, root-cert.pem (ISTIO_MUTUAL uses Istio's workload certificate files there: cert-chain.pem, key.pem, root-cert.pem; set the Proxy's spec.workloadCertificates to the directory that holds them)`,
    ]);
    // Nothing uses ISTIO_MUTUAL: the directory is not looked at.
    assert.ok(load(proxy(`  workloadCertificates: ${empty}\n`)).ok);
  });

  test(
    "the default directory: the error is at the ISTIO_MUTUAL that needs it",
    { skip: existsSync("/etc/certs/cert-chain.pem") && "this machine has /etc/certs" },
    () => {
      const [p] = problems(istioMutual);
      assert.match(
        p!,
        /^test\.yaml:19 spec\.trafficPolicy\.tls\.mode: ISTIO_MUTUAL uses the workload certificate in the default directory: \/etc\/certs: cannot read .*cert-chain\.pem/,
      );
    },
  );

  test("the workload files are checked as any other: a key that is not the certificate's", () => {
    const dir = workloadDir({ key: second.keyPath });
    assert.deepEqual(problems(docs(istioMutual, proxy(`  workloadCertificates: ${dir}\n`))), [
      `test.yaml:25 spec.workloadCertificates: ${join(dir, "key.pem")}: this private key is not the key of the certificate "CN=api.example.com" in ${join(dir, "cert-chain.pem")}`,
    ]);
  });

  test("a trust domain SPIFFE does not allow", () => {
    assert.deepEqual(problems(proxy("  trustDomain: Cluster.Local\n")), [
      'test.yaml:5 spec.trustDomain: must be a SPIFFE trust domain (lower case letters, digits, ".", "-", "_"), got "Cluster.Local"',
    ]);
  });
});

test("a config without TLS loads as before: no listener TLS, no cluster TLS", () => {
  const config = mustLoad(SERVICE_ENTRY);
  assert.equal(config.listener.tls, null);
  assert.equal(config.clusters.get("grpc-service|50051|")?.policy.tls, null);
  assert.deepEqual(config.warnings.map(formatProblem), []);
});
