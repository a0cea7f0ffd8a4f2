// A DestinationRule's tls through xDS and back: buildResources() (the control plane) encodes
// it as a transport_socket, the ADS client's decoding and configFromXds() (`sluice proxy --xds`)
// map it back to the same settings, for every mode. ISTIO_MUTUAL comes back as what it means
// with files: MUTUAL with the workload certificate files, Istio's SNI and the SPIFFE identities.
// Then every transport_socket sluice cannot honour: the ADS client NACKs the Cluster (it never
// becomes a plaintext cluster), with a message that names the field.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { UpstreamTlsSettings } from "../../src/config/types.js";
import { decodeResponse } from "../../src/xds-client/ads-client.js";
import { configFromXds } from "../../src/xds-client/from-xds.js";
import { buildResources } from "../../src/xds-server/to-xds.js";
import { packAny, TYPE_URL, type RESOURCE_TYPES } from "../../src/xds-proto/protos.js";
import type { XdsResources } from "../../src/xds-client/decoded-resources.js";
import { TestPki, simpleTls, workloadDirectory } from "../support/certs.js";
import { destinationRuleYaml, listenerYaml, parseConfig, serviceEntryYaml } from "../support/cluster.js";
import { Teardown } from "../support/teardown.js";

const td = new Teardown();
after(() => td.run());
const pki = TestPki.create(td, "xds tls test CA", 365);
const ca = pki.ca.certPath;
const client = pki.issue("client");
const crl = pki.crl();
const workload = workloadDirectory(pki, client);

const SIMPLE: UpstreamTlsSettings = simpleTls();

/** The config: a Proxy resource with the workload directory, ServiceEntry echo (endpoint lines `extra`), a DestinationRule with `tls`. */
function config(tls: readonly string[], extra = ""): string {
  const proxy = listenerYaml(`  workloadCertificates: ${workload}\n`);
  const dr = destinationRuleYaml("echo", `    tls:\n${tls.map((l) => `      ${l}\n`).join("")}`);
  return [proxy, serviceEntryYaml("echo", [7001, 7002], extra), dr].join("\n---\n");
}

/** Through the control plane's encoding and the ADS client's decoding (NACKs included) to configFromXds. */
function viaXds(yaml: string): { back: ReturnType<typeof configFromXds>; nacked: Map<string, string> } {
  const set = buildResources(parseConfig(yaml));
  const decoded = new Map<string, Map<string, Record<string, unknown>>>();
  const nacked = new Map<string, string>();
  for (const [t, byName] of set.byType) {
    const r = decodeResponse(t as (typeof RESOURCE_TYPES)[number], [...byName.values()]);
    for (const [name, why] of r.bad) nacked.set(name, why);
    decoded.set(t, new Map([...r.good].map(([name, held]) => [name, held.decoded])));
  }
  const resources: XdsResources = {
    listeners: decoded.get(TYPE_URL.listener) ?? new Map(),
    routes: decoded.get(TYPE_URL.route) ?? new Map(),
    clusters: decoded.get(TYPE_URL.cluster) ?? new Map(),
    endpoints: decoded.get(TYPE_URL.endpoint) ?? new Map(),
  };
  return { back: configFromXds(resources), nacked };
}

describe("every tls mode round-trips through xDS", () => {
  const istioFiles = {
    clientCertificate: join(workload, "cert-chain.pem"),
    privateKey: join(workload, "key.pem"),
    caCertificates: join(workload, "root-cert.pem"),
  };
  const cases: { name: string; tls: string[]; extra?: string; want: UpstreamTlsSettings | null; warning?: RegExp }[] = [
    { name: "DISABLE: plaintext, no transport_socket", tls: ["mode: DISABLE"], want: null },
    { name: "SIMPLE alone: the system roots, the host checked as the SNI name", tls: ["mode: SIMPLE"], want: SIMPLE },
    {
      name: "SIMPLE with a CA, DNS, URI and IP SANs, an SNI and a CRL",
      tls: [
        "mode: SIMPLE",
        `caCertificates: ${ca}`,
        "subjectAltNames: [api.example.com, spiffe://td/ns/a/sa/b, 10.1.2.3]",
        "sni: api.example.com",
        `caCrl: ${crl}`,
      ],
      want: { ...SIMPLE, caCertificates: ca, subjectAltNames: ["api.example.com", "spiffe://td/ns/a/sa/b", "10.1.2.3"], sni: "api.example.com", caCrl: crl },
    },
    {
      name: "MUTUAL: the client certificate and key",
      tls: ["mode: MUTUAL", `clientCertificate: ${client.certPath}`, `privateKey: ${client.keyPath}`, `caCertificates: ${ca}`],
      want: { ...SIMPLE, mode: "MUTUAL", clientCertificate: client.certPath, privateKey: client.keyPath, caCertificates: ca },
    },
    {
      name: "insecureSkipVerify: Envoy's ACCEPT_UNTRUSTED, warned about",
      tls: ["mode: SIMPLE", "insecureSkipVerify: true"],
      want: { ...SIMPLE, insecureSkipVerify: true },
      warning: /ACCEPT_UNTRUSTED: the server certificate is not verified/,
    },
    {
      name: "ISTIO_MUTUAL: the workload files, Istio's SNI, the endpoints' SPIFFE identities",
      tls: ["mode: ISTIO_MUTUAL"],
      extra: "      serviceAccount: echo-sa\n",
      want: { ...SIMPLE, mode: "MUTUAL", ...istioFiles, sni: "outbound_.50051_._.echo", subjectAltNames: ["spiffe://cluster.local/ns/default/sa/echo-sa"] },
    },
    {
      name: "ISTIO_MUTUAL with subjectAltNames, an SNI and a CRL",
      tls: ["mode: ISTIO_MUTUAL", "subjectAltNames: [spiffe://cluster.local/ns/x/sa/y]", "sni: echo.internal", `caCrl: ${crl}`],
      want: { ...SIMPLE, mode: "MUTUAL", ...istioFiles, sni: "echo.internal", subjectAltNames: ["spiffe://cluster.local/ns/x/sa/y"], caCrl: crl },
    },
  ];
  for (const c of cases) {
    test(c.name, () => {
      const { back, nacked } = viaXds(config(c.tls, c.extra));
      assert.deepEqual([...nacked], []);
      assert.deepEqual(back.clusters.get("echo|50051|")?.policy.tls, c.want);
      if (c.warning === undefined) assert.deepEqual(back.problems, []);
      else
        assert.ok(
          back.problems.some((p) => c.warning?.test(p) === true),
          back.problems.join("\n"),
        );
    });
  }

  test("ISTIO_MUTUAL with endpoints of no serviceAccount (any identity of the trust domain): NACKed, not taken without the check", () => {
    const { back, nacked } = viaXds(config(["mode: ISTIO_MUTUAL"]));
    const why = nacked.get("outbound|50051||echo") ?? "";
    assert.match(why, /TLS cannot be honoured, so the cluster is refused rather than used in plaintext/);
    assert.match(why, /matcher prefix "spiffe:\/\/cluster\.local\/" is not supported/);
    assert.equal(back.clusters.get("echo|50051|"), undefined);
  });
});

/** A STATIC cluster whose transport_socket carries `context` (an UpstreamTlsContext, plain object), encoded as the server would send it. */
function tlsCluster(context: Record<string, unknown>, typeUrl: string = TYPE_URL.upstreamTlsContext): ReturnType<typeof packAny> {
  const typed = typeUrl === TYPE_URL.upstreamTlsContext ? packAny(typeUrl, context) : { type_url: typeUrl, value: new Uint8Array() };
  return packAny(TYPE_URL.cluster, {
    name: "outbound|50051||echo",
    type: "STATIC",
    load_assignment: {
      cluster_name: "outbound|50051||echo",
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 7001 } } } }] }],
    },
    transport_socket: { name: "envoy.transport_sockets.tls", typed_config: typed },
  });
}

describe("a transport_socket sluice cannot honour NACKs the Cluster, naming the field", () => {
  const file = (filename: string): Record<string, unknown> => ({ filename });
  const verified = { trusted_ca: file(ca), match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: "echo" } }] };
  const cases: [string, Record<string, unknown>, RegExp, string?][] = [
    [
      "SDS secret for the client certificate",
      { common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "default" }], validation_context: verified } },
      /tls_certificate_sds_secret_configs: SDS secrets are not supported/,
    ],
    [
      "SDS secret for the CA",
      { common_tls_context: { validation_context_sds_secret_config: { name: "ROOTCA" } } },
      /validation_context_sds_secret_config: SDS secrets are not supported/,
    ],
    [
      "certificate provider instance (what gRPC clients use)",
      {
        common_tls_context: {
          tls_certificate_provider_instance: { instance_name: "google_cloud_private_spiffe" },
          validation_context: { ca_certificate_provider_instance: { instance_name: "x" } },
        },
      },
      /certificate provider instances are not supported/,
    ],
    [
      "an inline private key",
      {
        common_tls_context: {
          tls_certificates: [{ certificate_chain: file(client.certPath), private_key: { inline_string: "KEY" } }],
          validation_context: verified,
        },
      },
      /private_key: inline_string is not supported; sluice reads certificates from files/,
    ],
    [
      "a SAN suffix matcher",
      {
        common_tls_context: {
          validation_context: { trusted_ca: file(ca), match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { suffix: ".example.com" } }] },
        },
      },
      /matcher suffix ".example.com" is not supported: sluice matches exact names only/,
    ],
    [
      "an EMAIL SAN",
      {
        common_tls_context: { validation_context: { trusted_ca: file(ca), match_typed_subject_alt_names: [{ san_type: "EMAIL", matcher: { exact: "a@b" } }] } },
      },
      /san_type EMAIL is not supported/,
    ],
    [
      "cipher suites",
      { common_tls_context: { tls_params: { cipher_suites: ["ECDHE-RSA-AES128-GCM-SHA256"] }, validation_context: verified } },
      /tls_params.cipher_suites: not supported/,
    ],
    [
      "TLS 1.3 at least",
      { common_tls_context: { tls_params: { tls_minimum_protocol_version: "TLSv1_3" }, validation_context: verified } },
      /tls_minimum_protocol_version TLSv1_3: not supported/,
    ],
    [
      "ALPN without h2",
      { common_tls_context: { alpn_protocols: ["http/1.1"], validation_context: verified } },
      /alpn_protocols \["http\/1.1"\]: sluice speaks HTTP\/2 only/,
    ],
    [
      "certificate pinning",
      { common_tls_context: { validation_context: { ...verified, verify_certificate_hash: ["ab"] } } },
      /verify_certificate_hash: certificate pinning is not supported/,
    ],
    [
      "ACCEPT_UNTRUSTED with a CA",
      { common_tls_context: { validation_context: { trusted_ca: file(ca), trust_chain_verification: "ACCEPT_UNTRUSTED" } } },
      /trusted_ca: cannot be honoured with trust_chain_verification ACCEPT_UNTRUSTED/,
    ],
    [
      "names but no CA",
      { common_tls_context: { validation_context: { match_typed_subject_alt_names: [{ san_type: "DNS", matcher: { exact: "echo" } }] } } },
      /neither trusted_ca nor system_root_certs/,
    ],
    [
      "a CRL inline",
      { common_tls_context: { validation_context: { ...verified, crl: { inline_bytes: Buffer.from("x") } } } },
      /crl: inline_bytes is not supported/,
    ],
    [
      "a transport socket other than TLS",
      {},
      /typed_config type.googleapis.com\/envoy.extensions.transport_sockets.alts.v3.Alts is not supported/,
      "type.googleapis.com/envoy.extensions.transport_sockets.alts.v3.Alts",
    ],
  ];
  for (const [name, context, want, typeUrl] of cases) {
    test(name, () => {
      const r = decodeResponse(TYPE_URL.cluster, [tlsCluster(context, typeUrl)]);
      assert.equal(r.good.size, 0);
      const why = r.bad.get("outbound|50051||echo") ?? "";
      assert.match(why, /^TLS cannot be honoured, so the cluster is refused rather than used in plaintext: /);
      assert.match(why, want);
    });
  }

  test("no validation_context is Envoy's no verification: taken as insecureSkipVerify, with a warning", () => {
    const r = decodeResponse(TYPE_URL.cluster, [tlsCluster({ common_tls_context: {}, sni: "echo" })]);
    assert.deepEqual([...r.bad], []);
    const back = configFromXds({
      listeners: new Map(),
      routes: new Map(),
      clusters: new Map([...r.good].map(([n, h]) => [n, h.decoded])),
      endpoints: new Map(),
    });
    assert.deepEqual(back.clusters.get("echo|50051|")?.policy.tls, { ...SIMPLE, insecureSkipVerify: true });
    assert.ok(
      back.problems.some((p) => p.includes("no validation_context: the server certificate is not verified")),
      back.problems.join("\n"),
    );
  });

  test("harmless settings are taken: TLS 1.2 minimum, ALPN h2 among others, the deprecated untyped SAN matchers", () => {
    const context = {
      common_tls_context: {
        tls_params: { tls_minimum_protocol_version: "TLSv1_2", tls_maximum_protocol_version: "TLSv1_3" },
        alpn_protocols: ["h2", "http/1.1"],
        validation_context: { system_root_certs: {}, match_subject_alt_names: [{ exact: "api.example.com" }] },
      },
      sni: "api.example.com",
    };
    const r = decodeResponse(TYPE_URL.cluster, [tlsCluster(context)]);
    assert.deepEqual([...r.bad], []);
    const decoded = r.good.get("outbound|50051||echo")?.decoded ?? {};
    const back = configFromXds({ listeners: new Map(), routes: new Map(), clusters: new Map([["outbound|50051||echo", decoded]]), endpoints: new Map() });
    assert.deepEqual(back.clusters.get("echo|50051|")?.policy.tls, { ...SIMPLE, sni: "api.example.com" });
  });
});
