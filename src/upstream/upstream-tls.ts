// A cluster's TLS to its endpoints, from its DestinationRule's tls (Istio's ClientTLSSettings):
// the secure context (CA bundle or the system roots, client certificate and key, CRL) built
// once from the files, and what each endpoint's handshake checks. SIMPLE and MUTUAL check the
// server against `subjectAltNames`, or the SNI name (default: the host) as a host name.
// ISTIO_MUTUAL uses the workload certificate and root from the Proxy's directory (Istio's file
// names) and checks the endpoint's SPIFFE identity, spiffe://TRUST_DOMAIN/ns/NS/sa/SA, from
// its ServiceEntry endpoint's serviceAccount, or `subjectAltNames`.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import type { Cluster, UpstreamTlsSettings, WorkloadCertificates } from "../config/types.js";
import type { UpstreamTlsContext } from "../transport/tls/client-tls.js";

/** Istio's workload certificate files. */
export const WORKLOAD_FILES = { chain: "cert-chain.pem", key: "key.pem", root: "root-cert.pem" } as const;

/** Who an endpoint is, for its TLS checks. */
export interface TlsEndpoint {
  readonly address: string;
  readonly port: number;
  /** The DNS name the address came from, if any. */
  readonly hostname?: string;
}

/** Gives each endpoint of a cluster its TLS context; undefined for a plaintext cluster. */
export type UpstreamTlsFor = (endpoint: TlsEndpoint) => UpstreamTlsContext | undefined;

const PLAINTEXT: UpstreamTlsFor = () => undefined;

export function upstreamTls(cluster: Cluster, workload: WorkloadCertificates): UpstreamTlsFor {
  const settings = cluster.policy.tls;
  if (settings === null) return PLAINTEXT;
  const secureContext = tls.createSecureContext(contextOptions(settings, workload));
  if (settings.mode !== "ISTIO_MUTUAL") {
    const ctx: UpstreamTlsContext = {
      secureContext,
      servername: settings.sni ?? cluster.host,
      subjectAltNames: settings.subjectAltNames,
      insecureSkipVerify: settings.insecureSkipVerify,
    };
    return () => ctx;
  }
  // Istio's SNI for its mutual TLS: outbound_.PORT_.SUBSET_.HOST.
  const servername = settings.sni ?? `outbound_.${cluster.port}_.${cluster.subset ?? ""}_.${cluster.host}`;
  const byIdentity = new Map<string, UpstreamTlsContext>();
  return (endpoint) => {
    const identity = spiffeIdentity(cluster, endpoint, workload.trustDomain);
    const subjectAltNames = identity === undefined ? settings.subjectAltNames : [identity];
    const key = subjectAltNames.join(" ");
    let ctx = byIdentity.get(key);
    if (ctx === undefined) {
      ctx = { secureContext, servername, subjectAltNames, insecureSkipVerify: settings.insecureSkipVerify, trustDomain: workload.trustDomain };
      byIdentity.set(key, ctx);
    }
    return ctx;
  };
}

function contextOptions(s: UpstreamTlsSettings, workload: WorkloadCertificates): tls.SecureContextOptions {
  const read = (path: string): Buffer => readFileSync(path);
  if (s.mode === "ISTIO_MUTUAL") {
    const dir = workload.directory;
    return {
      ca: read(join(dir, WORKLOAD_FILES.root)),
      cert: read(join(dir, WORKLOAD_FILES.chain)),
      key: read(join(dir, WORKLOAD_FILES.key)),
      ...(s.caCrl === null ? {} : { crl: read(s.caCrl) }),
    };
  }
  return {
    // No CA given: node's bundled roots, as createSecureContext defaults to.
    ...(s.caCertificates === null ? {} : { ca: read(s.caCertificates) }),
    ...(s.clientCertificate === null ? {} : { cert: read(s.clientCertificate) }),
    ...(s.privateKey === null ? {} : { key: read(s.privateKey) }),
    ...(s.caCrl === null ? {} : { crl: read(s.caCrl) }),
  };
}

/** The configured endpoint's SPIFFE identity, when its ServiceEntry endpoint names a serviceAccount. */
function spiffeIdentity(cluster: Cluster, endpoint: TlsEndpoint, trustDomain: string): string | undefined {
  const configured = cluster.endpoints.find((e) => (e.address === endpoint.address || e.address === endpoint.hostname) && e.port === endpoint.port);
  const id = configured?.identity;
  return id === undefined ? undefined : `spiffe://${trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}`;
}
