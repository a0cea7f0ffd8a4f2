// A cluster's TLS (the DestinationRule's tls) as Envoy's transport_socket: an UpstreamTlsContext
// naming files, as Envoy reads them and `sluice proxy --xds` maps them back (xds-client/
// from-xds-tls.ts). Proxyless gRPC clients honour only certificate provider instances (gRFC
// A29), never file names: grpc-js-xds and gRPC C-core reject such a Cluster, so their RPCs to
// it fail instead of leaving in plaintext. TLS clusters are for proxies.
//
// Identity checks, as sluice's proxy makes them from files:
// - SIMPLE, MUTUAL: `subjectAltNames`, else the SNI name (exact; sluice also takes it as a host
//   name, so a wildcard certificate matches).
// - ISTIO_MUTUAL: the workload certificate files of the Proxy resource's directory (Istio's file
//   names), the SPIFFE identities of the endpoints (one list per cluster, as Istio gives its
//   sidecars: Envoy checks a cluster, not an endpoint), and Istio's SNI outbound_.PORT_.SUBSET_.HOST.
//   An endpoint without a serviceAccount (and no subjectAltNames) accepts any identity of the
//   trust domain: a URI prefix matcher, which sluice's proxy refuses (it checks exact names).
import { isIP } from "node:net";
import { join } from "node:path";
import type { Cluster, UpstreamTlsSettings, WorkloadCertificates } from "../config/types.js";
import { WORKLOAD_FILES } from "../config/tls-files.js";
import { packAny, TYPE_URL } from "../xds-proto/protos.js";

export const TLS_TRANSPORT_SOCKET = "envoy.transport_sockets.tls";

/** The Cluster's transport_socket field; empty for a plaintext cluster. */
export function tlsFields(c: Cluster, workload: WorkloadCertificates): Record<string, unknown> {
  const tls = c.policy.tls;
  if (tls === null) return {};
  return { transport_socket: { name: TLS_TRANSPORT_SOCKET, typed_config: packAny(TYPE_URL.upstreamTlsContext, upstreamTlsContext(c, tls, workload)) } };
}

/** The UpstreamTlsContext as a plain object (snake_case, enums by name), before encoding. */
export function upstreamTlsContext(c: Cluster, tls: UpstreamTlsSettings, workload: WorkloadCertificates): Record<string, unknown> {
  const istio = tls.mode === "ISTIO_MUTUAL";
  const sni = tls.sni ?? (istio ? `outbound_.${c.port}_.${c.subset ?? ""}_.${c.host}` : c.host);
  const dir = workload.directory;
  const chain = istio ? join(dir, WORKLOAD_FILES.certificateChain) : tls.clientCertificate;
  const key = istio ? join(dir, WORKLOAD_FILES.privateKey) : tls.privateKey;
  const common: Record<string, unknown> = { alpn_protocols: ["h2"] };
  if (chain !== null && key !== null) common["tls_certificates"] = [{ certificate_chain: { filename: chain }, private_key: { filename: key } }];
  common["validation_context"] = validationContext(c, tls, sni, istio ? join(dir, WORKLOAD_FILES.root) : tls.caCertificates, workload.trustDomain);
  return { common_tls_context: common, sni };
}

function validationContext(c: Cluster, tls: UpstreamTlsSettings, sni: string, ca: string | null, trustDomain: string): Record<string, unknown> {
  // Nothing is verified: Envoy's way to say so (a CA and names would contradict it).
  if (tls.insecureSkipVerify) return { trust_chain_verification: "ACCEPT_UNTRUSTED" };
  const v: Record<string, unknown> = ca === null ? { system_root_certs: {} } : { trusted_ca: { filename: ca } };
  v["match_typed_subject_alt_names"] = sanMatchers(c, tls, sni, trustDomain);
  if (tls.caCrl !== null) v["crl"] = { filename: tls.caCrl };
  return v;
}

function sanMatchers(c: Cluster, tls: UpstreamTlsSettings, sni: string, trustDomain: string): Record<string, unknown>[] {
  if (tls.mode !== "ISTIO_MUTUAL") return (tls.subjectAltNames.length > 0 ? tls.subjectAltNames : [sni]).map(exactSan);
  // The proxy checks each endpoint's identity, else subjectAltNames, else the trust domain.
  const names = new Set<string>();
  let trustDomainWide = false;
  const fallback = (): void => {
    if (tls.subjectAltNames.length === 0) trustDomainWide = true;
    for (const s of tls.subjectAltNames) names.add(s);
  };
  for (const e of c.endpoints) {
    if (e.identity === undefined) fallback();
    else names.add(`spiffe://${trustDomain}/ns/${e.identity.namespace}/sa/${e.identity.serviceAccount}`);
  }
  if (c.endpoints.length === 0) fallback();
  const matchers = [...names].sort().map(exactSan);
  if (trustDomainWide) matchers.push({ san_type: "URI", matcher: { prefix: `spiffe://${trustDomain}/` } });
  return matchers;
}

/** A SAN matched exactly, its type by its shape: a URI (spiffe://...), an IP address, else a DNS name. */
export function exactSan(value: string): Record<string, unknown> {
  const type = value.includes("://") ? "URI" : isIP(value) !== 0 ? "IP_ADDRESS" : "DNS";
  return { san_type: type, matcher: { exact: value } };
}
