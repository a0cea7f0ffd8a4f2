// A DestinationRule's tls as the control plane serves it: the Cluster's transport_socket, an
// Envoy UpstreamTlsContext naming files, decoded back and compared whole for each mode, as an
// Envoy (or `sluice proxy --xds`) would read it. The way back: test/xds-client/from-xds-tls.test.ts.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildResources } from "../../src/xds-server/to-xds.js";
import { TYPE_URL, unpackAny, type AnyMessage } from "../../src/xds-proto/protos.js";
import { TestPki, workloadDirectory } from "../support/certs.js";
import { destinationRuleYaml, listenerYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { Teardown } from "../support/teardown.js";

const td = new Teardown();
after(() => td.run());
const pki = TestPki.create(td, "to-xds tls CA", 365);
const ca = pki.ca.certPath;
const client = pki.issue("client");
const crl = pki.crl();
const workload = workloadDirectory(pki, client);

/** The Cluster outbound|50051||echo of a config whose DestinationRule has `tls`, decoded. */
function cluster(tls: readonly string[], extra = ""): Record<string, unknown> {
  const yaml = [
    listenerYaml(`  workloadCertificates: ${workload}\n  trustDomain: example.org\n`),
    serviceEntryYaml("echo", [7001, 7002], extra),
    destinationRuleYaml("echo", `    tls:\n${tls.map((l) => `      ${l}\n`).join("")}`),
  ].join("\n---\n");
  const any = buildResources(parseConfig(yaml)).byType.get(TYPE_URL.cluster)?.get("outbound|50051||echo");
  assert.ok(any !== undefined);
  return unpackAny(any);
}

/** The transport_socket's UpstreamTlsContext, decoded; its name checked. */
function tlsContext(c: Record<string, unknown>): Record<string, unknown> {
  const socket = c["transport_socket"] as { name: string; typed_config: AnyMessage };
  assert.equal(socket.name, "envoy.transport_sockets.tls");
  assert.equal(socket.typed_config.type_url, TYPE_URL.upstreamTlsContext);
  return unpackAny(socket.typed_config);
}

const files = (chain: string, key: string): unknown[] => [{ certificate_chain: { filename: chain }, private_key: { filename: key } }];
const san = (type: string, exact: string): unknown => ({ san_type: type, matcher: { exact } });

describe("each mode's UpstreamTlsContext", () => {
  test("DISABLE: no transport_socket (plaintext)", () => {
    assert.equal(cluster(["mode: DISABLE"])["transport_socket"], undefined);
  });

  test("SIMPLE alone: the system roots, the host as SNI and as the DNS SAN checked, ALPN h2", () => {
    assert.deepEqual(tlsContext(cluster(["mode: SIMPLE"])), {
      common_tls_context: { alpn_protocols: ["h2"], validation_context: { system_root_certs: {}, match_typed_subject_alt_names: [san("DNS", "echo")] } },
      sni: "echo",
    });
  });

  test("MUTUAL: the client certificate files, the CA file, typed SANs by shape, the CRL file", () => {
    const tls = [
      "mode: MUTUAL",
      `clientCertificate: ${client.certPath}`,
      `privateKey: ${client.keyPath}`,
      `caCertificates: ${ca}`,
      "subjectAltNames: [api.example.com, spiffe://td/ns/a/sa/b, 10.1.2.3]",
      "sni: api.example.com",
      `caCrl: ${crl}`,
    ];
    assert.deepEqual(tlsContext(cluster(tls)), {
      common_tls_context: {
        alpn_protocols: ["h2"],
        tls_certificates: files(client.certPath, client.keyPath),
        validation_context: {
          trusted_ca: { filename: ca },
          match_typed_subject_alt_names: [san("DNS", "api.example.com"), san("URI", "spiffe://td/ns/a/sa/b"), san("IP_ADDRESS", "10.1.2.3")],
          crl: { filename: crl },
        },
      },
      sni: "api.example.com",
    });
  });

  test("insecureSkipVerify: trust_chain_verification ACCEPT_UNTRUSTED, no CA, no names", () => {
    assert.deepEqual(tlsContext(cluster(["mode: SIMPLE", "insecureSkipVerify: true"])), {
      common_tls_context: { alpn_protocols: ["h2"], validation_context: { trust_chain_verification: "ACCEPT_UNTRUSTED" } },
      sni: "echo",
    });
  });

  test("ISTIO_MUTUAL: the workload directory's files, Istio's SNI, the endpoints' SPIFFE identities in the trust domain", () => {
    assert.deepEqual(tlsContext(cluster(["mode: ISTIO_MUTUAL"], "      serviceAccount: echo-sa\n")), {
      common_tls_context: {
        alpn_protocols: ["h2"],
        tls_certificates: files(join(workload, "cert-chain.pem"), join(workload, "key.pem")),
        validation_context: {
          trusted_ca: { filename: join(workload, "root-cert.pem") },
          match_typed_subject_alt_names: [san("URI", "spiffe://example.org/ns/default/sa/echo-sa")],
        },
      },
      sni: "outbound_.50051_._.echo",
    });
  });

  test("ISTIO_MUTUAL, endpoints without a serviceAccount: any identity of the trust domain (a URI prefix, as sluice's proxy checks it)", () => {
    const v = (tlsContext(cluster(["mode: ISTIO_MUTUAL"]))["common_tls_context"] as Record<string, unknown>)["validation_context"];
    assert.deepEqual((v as Record<string, unknown>)["match_typed_subject_alt_names"], [{ san_type: "URI", matcher: { prefix: "spiffe://example.org/" } }]);
  });
});
