// A DestinationRule's tls: every mode to its settings, every refusal with its message and
// line, Istio's merge of the DestinationRule, port-level and subset tls, endpoint identities,
// and relative certificate paths read from the config file's directory. Certificates are
// made at test time (test/support/certs.ts), valid for a year unless a case wants otherwise.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatProblem } from "../../src/config/diagnostics.js";
import { loadConfigFiles } from "../../src/config/load.js";
import type { UpstreamTlsSettings } from "../../src/config/types.js";
import { TestPki, simpleTls, workloadDirectory } from "../support/certs.js";
import { tempDir } from "../support/cli.js";
import { Teardown } from "../support/teardown.js";
import { destinationRule, docs, load, mustLoad, problems, SERVICE_ENTRY, warnings } from "./helpers.js";

const td = new Teardown();
after(() => td.run());
const pki = TestPki.create(td, "tls test CA", 365);
const ca = pki.ca.certPath;
const client = pki.issue("client", { days: 365 });
const crl = pki.crl();

/** SERVICE_ENTRY and a DestinationRule whose trafficPolicy.tls is `fields` (one per line, from line 20). */
function withTls(...fields: string[]): string {
  return docs(SERVICE_ENTRY, destinationRule(`  host: grpc-service\n  trafficPolicy:\n    tls:\n${fields.map((f) => `      ${f}\n`).join("")}`));
}

function tlsOf(text: string, cluster = "grpc-service|50051|"): UpstreamTlsSettings | null {
  const c = mustLoad(text).clusters.get(cluster);
  assert.ok(c !== undefined, `no cluster ${cluster}`);
  return c.policy.tls;
}

const SIMPLE_DEFAULTS: UpstreamTlsSettings = simpleTls();

describe("tls modes to settings", () => {
  const cases: { name: string; fields: string[]; want: UpstreamTlsSettings | null }[] = [
    { name: "DISABLE is plaintext", fields: ["mode: DISABLE"], want: null },
    { name: "no mode is DISABLE (Istio's default)", fields: ["credentialName: ''"], want: null },
    { name: "SIMPLE alone: system roots, the host as SNI", fields: ["mode: SIMPLE"], want: SIMPLE_DEFAULTS },
    {
      name: "SIMPLE with a CA, SANs, SNI and a CRL",
      fields: ["mode: SIMPLE", `caCertificates: ${ca}`, "subjectAltNames: [api.example.com, spiffe://td/ns/a/sa/b]", "sni: api.example.com", `caCrl: ${crl}`],
      want: { ...SIMPLE_DEFAULTS, caCertificates: ca, subjectAltNames: ["api.example.com", "spiffe://td/ns/a/sa/b"], sni: "api.example.com", caCrl: crl },
    },
    {
      name: "an empty string is unset (proto3)",
      fields: ["mode: SIMPLE", "caCertificates: ''", "sni: ''", "credentialName: ''"],
      want: SIMPLE_DEFAULTS,
    },
    {
      name: "MUTUAL: the client certificate and key",
      fields: ["mode: MUTUAL", `clientCertificate: ${client.certPath}`, `privateKey: ${client.keyPath}`, `caCertificates: ${ca}`],
      want: { ...SIMPLE_DEFAULTS, mode: "MUTUAL", clientCertificate: client.certPath, privateKey: client.keyPath, caCertificates: ca },
    },
    {
      name: "ISTIO_MUTUAL: no files of its own",
      fields: ["mode: ISTIO_MUTUAL", "sni: outbound_.50051_._.grpc-service", "subjectAltNames: [spiffe://cluster.local/ns/default/sa/api]"],
      want: { ...SIMPLE_DEFAULTS, mode: "ISTIO_MUTUAL", sni: "outbound_.50051_._.grpc-service", subjectAltNames: ["spiffe://cluster.local/ns/default/sa/api"] },
    },
    { name: "insecureSkipVerify is honoured", fields: ["mode: SIMPLE", "insecureSkipVerify: true"], want: { ...SIMPLE_DEFAULTS, insecureSkipVerify: true } },
  ];
  for (const c of cases) {
    test(c.name, () => {
      // ISTIO_MUTUAL needs the workload files: point a Proxy at a directory that has them.
      const text = c.want?.mode === "ISTIO_MUTUAL" ? docs(withTls(...c.fields), workloadProxy()) : withTls(...c.fields);
      assert.deepEqual(tlsOf(text), c.want);
    });
  }

  test("a ServiceEntry's subjectAltNames apply when the DestinationRule's tls names none (Istio's rule), never over its own, nor with insecureSkipVerify", () => {
    const se = SERVICE_ENTRY.replace("spec:\n", "spec:\n  subjectAltNames: [api.internal]\n");
    assert.notEqual(se, SERVICE_ENTRY);
    const dr = (...fields: string[]): string =>
      docs(se, destinationRule(`  host: grpc-service\n  trafficPolicy:\n    tls:\n${fields.map((f) => `      ${f}\n`).join("")}`));
    assert.deepEqual(tlsOf(dr("mode: SIMPLE"))?.subjectAltNames, ["api.internal"]);
    assert.deepEqual(tlsOf(dr("mode: SIMPLE", "subjectAltNames: [own.internal]"))?.subjectAltNames, ["own.internal"]);
    assert.deepEqual(tlsOf(dr("mode: SIMPLE", "insecureSkipVerify: true"))?.subjectAltNames, []);
    assert.equal(tlsOf(dr("mode: DISABLE")), null);
  });

  test("insecureSkipVerify warns that the server is not verified, at its line", () => {
    const r = load(withTls("mode: SIMPLE", "insecureSkipVerify: true"));
    assert.ok(r.ok);
    assert.deepEqual(warnings(r).map(formatProblem), [
      "test.yaml:21 spec.trafficPolicy.tls.insecureSkipVerify: the server's certificate is not verified: whoever can reach the connection can pose as the server",
    ]);
  });
});

/** A Proxy resource whose workload certificate directory holds Istio's three files. */
function workloadProxy(): string {
  const dir = workloadDirectory(pki, client);
  return `apiVersion: sluice.dev/v1alpha1\nkind: Proxy\nmetadata: {name: p}\nspec:\n  workloadCertificates: ${dir}\n`;
}

describe("tls settings that cannot be honoured are errors, at their line", () => {
  const T = "test.yaml";
  const P = "spec.trafficPolicy.tls";
  const cases: { fields: string[]; want: string[] }[] = [
    {
      fields: ["mode: DISABLE", `caCertificates: ${ca}`],
      want: [`${T}:21 ${P}.caCertificates: has no effect with mode DISABLE: the connection is plaintext; set mode SIMPLE, MUTUAL or ISTIO_MUTUAL for TLS`],
    },
    {
      fields: ["sni: api.example.com", "insecureSkipVerify: true"],
      want: [
        `${T}:20 ${P}.sni: has no effect without a mode (DISABLE, Istio's default): the connection is plaintext; set mode SIMPLE, MUTUAL or ISTIO_MUTUAL for TLS`,
        `${T}:21 ${P}.insecureSkipVerify: has no effect without a mode (DISABLE, Istio's default): the connection is plaintext; set mode SIMPLE, MUTUAL or ISTIO_MUTUAL for TLS`,
      ],
    },
    {
      fields: ["mode: SIMPLE", `clientCertificate: ${client.certPath}`],
      want: [`${T}:21 ${P}.clientCertificate: is only used with mode MUTUAL: SIMPLE presents no client certificate; set mode MUTUAL to present one`],
    },
    {
      fields: ["mode: MUTUAL", `clientCertificate: ${client.certPath}`],
      want: [`${T}:20 ${P}.mode: MUTUAL needs privateKey: the client certificate's private key (PEM)`],
    },
    {
      fields: ["mode: MUTUAL", `privateKey: ${client.keyPath}`],
      want: [`${T}:20 ${P}.mode: MUTUAL needs clientCertificate: the client certificate chain (PEM) presented to the server`],
    },
    {
      fields: ["mode: ISTIO_MUTUAL", `caCertificates: ${ca}`, `privateKey: ${client.keyPath}`],
      want: [
        `${T}:21 ${P}.caCertificates: must be empty with mode ISTIO_MUTUAL, as in Istio: the workload certificate and root in the Proxy's spec.workloadCertificates are used`,
        `${T}:22 ${P}.privateKey: must be empty with mode ISTIO_MUTUAL, as in Istio: the workload certificate and root in the Proxy's spec.workloadCertificates are used`,
      ],
    },
    {
      fields: ["mode: SIMPLE", "credentialName: api-cert"],
      want: [
        `${T}:21 ${P}.credentialName: sluice has no secret discovery to fetch "api-cert" from: give the files instead, with clientCertificate and privateKey (mode MUTUAL) and caCertificates`,
      ],
    },
    {
      fields: ["mode: SIMPLE", "insecureSkipVerify: true", "subjectAltNames: [api]", `caCrl: ${crl}`],
      want: [
        `${T}:22 ${P}.subjectAltNames: cannot be honoured with insecureSkipVerify: true, which verifies nothing about the server; remove one of them`,
        `${T}:23 ${P}.caCrl: cannot be honoured with insecureSkipVerify: true, which verifies nothing about the server; remove one of them`,
      ],
    },
    { fields: ["mode: SIMPLE", "caCert: ca.pem"], want: [`${T}:21 ${P}.caCert: unknown field (did you mean caCrl?)`] },
    { fields: ["mode: SIMPLE", "subjectAltNames: ['']"], want: [`${T}:21 ${P}.subjectAltNames[0]: must be a non-empty string, got ""`] },
  ];
  for (const c of cases) {
    test(c.fields.join(", "), () => assert.deepEqual(problems(withTls(...c.fields)), c.want));
  }

  test("an insecureSkipVerify refused does not also warn", () => {
    const r = load(withTls("mode: SIMPLE", "insecureSkipVerify: true", `caCertificates: ${ca}`));
    assert.ok(!r.ok);
    assert.deepEqual(warnings(r), []);
  });
});

describe("tls is merged as Istio's MergeTrafficPolicy merges it", () => {
  const se = SERVICE_ENTRY.replace(
    "ports: [{number: 50051, name: grpc, protocol: GRPC}]",
    "ports: [{number: 50051, name: grpc}, {number: 50052, name: admin}]",
  );
  const spec = `  host: grpc-service
  trafficPolicy:
    tls: {mode: SIMPLE, sni: top}
    portLevelSettings:
    - port: {number: 50052}
      loadBalancer: {simple: RANDOM}
  subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy: {tls: {mode: DISABLE}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {simple: ROUND_ROBIN}
      portLevelSettings:
      - port: {number: 50051}
        tls: {mode: SIMPLE, sni: subset-port}
  - name: v3
    labels: {version: v1}
    trafficPolicy: {tls: {mode: SIMPLE, sni: subset}}
`;
  const config = mustLoad(docs(se, destinationRule(spec)));
  const sniOf = (cluster: string): string | null | undefined => {
    const c = config.clusters.get(cluster);
    assert.ok(c !== undefined, cluster);
    return c.policy.tls === null ? undefined : c.policy.tls.sni;
  };
  const cases: [cluster: string, sni: string | undefined, why: string][] = [
    ["grpc-service|50051|", "top", "the DestinationRule's tls"],
    ["grpc-service|50052|", undefined, "a portLevelSettings entry without tls replaces it with none: port level settings do not inherit"],
    ["grpc-service|50051|v1", undefined, "a subset's DISABLE replaces the DestinationRule's SIMPLE"],
    ["grpc-service|50051|v2", "subset-port", "the subset's portLevelSettings entry for the port"],
    ["grpc-service|50052|v2", undefined, "the subset sets no tls: the merged port 50052 policy's (none)"],
    ["grpc-service|50051|v3", "subset", "the subset's tls replaces the DestinationRule's"],
    ["grpc-service|50052|v3", "subset", "the subset's tls replaces the port-level one too"],
  ];
  for (const [cluster, sni, why] of cases) test(`${cluster}: ${why}`, () => assert.equal(sniOf(cluster), sni));
});

describe("ServiceEntry endpoints' serviceAccount is their identity", () => {
  const se = (namespace: string | null): string =>
    `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api${namespace === null ? "" : `, namespace: ${namespace}`}}
spec:
  hosts: [api]
  ports: [{number: 50051, name: grpc}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, serviceAccount: api-sa}
  - {address: 10.0.0.2}
  - {address: 10.0.0.3, serviceAccount: ""}
`;
  for (const [namespace, want] of [
    ["payments", "payments"],
    [null, "default"],
  ] as const) {
    test(`namespace ${namespace ?? "unset"}: ${want}`, () => {
      const endpoints = mustLoad(se(namespace)).clusters.get("api|50051|")?.endpoints ?? [];
      assert.deepEqual(
        endpoints.map((e) => e.identity),
        [{ namespace: want, serviceAccount: "api-sa" }, undefined, undefined],
      );
    });
  }
});

describe("relative certificate paths", () => {
  test("are read from the directory of the YAML file that names them, and stored absolute", async (t) => {
    const dir = tempDir(t, "sluice-tls-rel-");
    copyFileSync(ca, join(dir, "ca.pem"));
    const file = join(dir, "grpc.yaml");
    writeFileSync(file, withTls("mode: SIMPLE", "caCertificates: ca.pem", "caCrl: missing.pem"));
    const r = await loadConfigFiles([file]);
    assert.ok(!r.ok);
    // The CA was found beside the file; the missing CRL is named by its absolute path, at its line.
    assert.deepEqual(r.problems.map(formatProblem), [`${file}:22 spec.trafficPolicy.tls.caCrl: cannot read ${join(dir, "missing.pem")}: no such file`]);
    writeFileSync(file, withTls("mode: SIMPLE", "caCertificates: ca.pem"));
    const ok = await loadConfigFiles([file]);
    assert.ok(ok.ok, ok.ok ? "" : ok.problems.map(formatProblem).join("\n"));
    assert.equal(ok.config.clusters.get("grpc-service|50051|")?.policy.tls?.caCertificates, join(dir, "ca.pem"));
  });

  test("are kept as written when the text has no file (a test, stdin)", () => {
    assert.deepEqual(problems(withTls("mode: SIMPLE", "caCertificates: no-such-dir/ca.pem")), [
      "test.yaml:21 spec.trafficPolicy.tls.caCertificates: cannot read no-such-dir/ca.pem: no such file",
    ]);
  });
});
